#!/bin/sh
# spawn-fcgi execs this in place of the app, and it execs valgrind, which
# runs the app: the pid stack.sh records is still the one process, fd 0 is
# still the listening socket, and SIGTERM still reaches the app's drain.
#
#   VALGRIND_APP=build/candidates VALGRIND_LOG=FILE tests/soak/valgrind-app.sh
#
# A definite leak counts as an error, so "ERROR SUMMARY: 0 errors" in the
# log means no invalid access, no use of uninitialised memory and no leak.
set -eu
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
	--track-origins=yes --log-file="$VALGRIND_LOG" "$VALGRIND_APP"

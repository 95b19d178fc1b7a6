#!/bin/sh
# spawn-fcgi execs this in place of the app, and it execs valgrind, which
# runs the app: the pid stack.sh records is still the app's, fd 0 is still
# the listening socket, and SIGTERM still reaches the app, which passes it
# on to its worker's drain.
#
#   VALGRIND_APP=build/candidates VALGRIND_LOG=PREFIX tests/soak/valgrind-app.sh
#
# valgrind follows the app's fork without being asked: the worker runs
# under it too. Each process writes its own log, PREFIX.<pid> (%p), as
# one file for both would be interleaved. A definite leak counts as an
# error, so "ERROR SUMMARY: 0 errors" in a log means no invalid access, no
# use of uninitialised memory and no leak in that process; a worker's
# errors also become the app's exit status (99).
set -eu
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
	--errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=30 \
	--track-origins=yes --log-file="$VALGRIND_LOG.%p" "$VALGRIND_APP"

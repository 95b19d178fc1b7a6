# Prints the Makefile's DEPS_BUILD packages on one line:
#   DEPS_BUILD = a b \
#                c d:command
# ("pkg:command" is tests/deps.sh's; apt wants the package name only).
/^DEPS_BUILD[ \t]*=/ { on = 1; sub(/^[^=]*=/, "") }
on {
	more = sub(/\\$/, "")
	for (i = 1; i <= NF; i++) { sub(/:.*/, "", $i); printf "%s ", $i }
	if (!more) exit
}

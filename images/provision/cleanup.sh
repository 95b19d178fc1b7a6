#!/bin/sh
# Leaves the image as small and as clean as a fresh instance needs: the
# compiler and -dev packages go, the libraries the app links stay, and
# nothing of the build (source, package lists, machine id) remains.
#
# Environment: SRC (the uploaded source).
set -eu

: "${SRC:?SRC must name the uploaded source directory}"
app=/usr/local/bin/candidates
# The app, and the store modules it loads when CANDIDATES_STORE names one
# (libcurl and OpenSSL are theirs alone).
set -- "$app" /usr/local/lib/candidates/*.so

# The runtime libraries came in as dependencies of the -dev packages, so
# autoremove would take them too: mark the packages that own what the app
# links as wanted. ldd prints /lib or /usr/lib paths, while dpkg knows
# only the one a package ships (Debian 12 merged /usr but dpkg -S did not).
for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
	pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null ||
	    dpkg -S "${lib#/usr}" 2>/dev/null) || {
		echo "cleanup.sh: no package owns $lib" >&2
		exit 1
	}
	apt-mark manual "${pkg%%:*}" >/dev/null
done

export DEBIAN_FRONTEND=noninteractive
build=$(awk -f "$SRC/images/provision/deps-build.awk" "$SRC/Makefile")
# The toolchain by name too: autoremove keeps what an installed package
# merely suggests (apt suggests dpkg-dev, which recommends gcc).
toolchain="gcc g++ cpp make dpkg-dev binutils libc6-dev"
# shellcheck disable=SC2086 # lists of package names
apt-get purge -y -qq --auto-remove $build $toolchain >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*

# A library the purge took would only show when the service starts.
if ldd "$@" | grep 'not found'; then
	echo "cleanup.sh: the app lost a library" >&2
	exit 1
fi

rm -rf "$SRC"
# Every instance must make its own machine id (systemd does when empty).
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
echo "cleanup.sh: build packages removed"

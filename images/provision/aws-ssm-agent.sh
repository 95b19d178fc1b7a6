#!/bin/sh
# AWS only: installs the SSM agent, which Debian's AMIs lack, so operators
# reach instances through Session Manager instead of SSH and `make load`
# can start stress-ng on them. Debian 12 has no package of it (apt-cache
# policy amazon-ssm-agent finds none), so it comes from AWS's bucket in the
# build's own region with its detached signature, and is installed only if
# gpgv finds that signature good and made by AWS's SSM agent key: the one
# whose fingerprint is pinned below, a copy of which is in
# images/files/amazon-ssm-agent.asc (infra/aws/README.md says where it
# came from).
#
# Environment: AWS_REGION (the build's region), SRC (the uploaded source);
# SSM_AGENT_URL and SSM_AGENT_FINGERPRINT replace AWS's package and key
# (the tests serve their own, signed by a key of their own).
set -eu

: "${AWS_REGION:?AWS_REGION must name the build region}"
: "${SRC:?SRC must name the uploaded source directory}"
url=${SSM_AGENT_URL:-https://s3.$AWS_REGION.amazonaws.com/amazon-ssm-$AWS_REGION/latest/debian_amd64/amazon-ssm-agent.deb}
want=${SSM_AGENT_FINGERPRINT:-DE92C7DA3E56E92331D62A36BC1F495C97DD04ED}
key=$SRC/images/files/amazon-ssm-agent.asc

fail() {
	echo "aws-ssm-agent.sh: $*; the agent is not installed" >&2
	exit 1
}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
curl -fsS --retry 3 --max-time 120 -o "$dir/agent.deb" "$url" ||
    fail "cannot download $url"
curl -fsS --retry 3 --max-time 60 -o "$dir/agent.deb.sig" "$url.sig" ||
    fail "cannot download its signature $url.sig"

# gpgv (which apt itself needs, so every Debian has it) reads binary
# keyrings only: the armour's base64 body, without its header lines and
# its checksum line.
sed -e '1,/^$/d' -e '/^=/,$d' "$key" | base64 -d >"$dir/key.gpg" ||
    fail "cannot read the key $key"
status=$(gpgv --keyring "$dir/key.gpg" --status-fd 1 \
    "$dir/agent.deb.sig" "$dir/agent.deb" 2>"$dir/gpgv.log") || {
	cat "$dir/gpgv.log" >&2
	fail "the signature of $url is not good"
}
# VALIDSIG's last field is the primary key's fingerprint.
signer=$(printf '%s\n' "$status" | awk '$2 == "VALIDSIG" { print $NF }')
[ "$signer" = "$want" ] || fail "$url is signed by ${signer:-no key}, not by $want"
case "$status" in
*"[GNUPG:] REVKEYSIG "*) fail "the key $want has been revoked" ;;
*"[GNUPG:] EXPKEYSIG "*)
	# AWS renews the key's expiry on the same key: the signature is still
	# AWS's, and the copy here is older than its renewal.
	echo "aws-ssm-agent.sh: note: $key has expired; AWS publishes its renewal (infra/aws/README.md)" >&2
	;;
esac
echo "aws-ssm-agent.sh: signature good, by $want"

dpkg -i "$dir/agent.deb"
systemctl enable amazon-ssm-agent.service
echo "aws-ssm-agent.sh: $(dpkg-query -W -f='${Version}' amazon-ssm-agent) installed"

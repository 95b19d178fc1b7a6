#!/bin/sh
# AWS only: installs the SSM agent, which Debian's AMIs lack and Debian
# does not package, so operators reach instances through Session Manager
# instead of SSH, and `make load` can start stress-ng on them. The package
# comes from AWS's bucket in the build's own region, over HTTPS.
#
# Environment: AWS_REGION (the region the image is built in).
set -eu

: "${AWS_REGION:?AWS_REGION must name the build region}"
url="https://s3.$AWS_REGION.amazonaws.com/amazon-ssm-$AWS_REGION/latest/debian_amd64/amazon-ssm-agent.deb"
deb=$(mktemp --suffix=.deb)
trap 'rm -f "$deb"' EXIT
curl -fsS --retry 3 --max-time 120 -o "$deb" "$url"
dpkg -i "$deb"
systemctl enable amazon-ssm-agent.service
echo "aws-ssm-agent.sh: $(dpkg-query -W -f='${Version}' amazon-ssm-agent) installed"

# The plugins a current Packer (1.7 and later) installs with `packer init`.
# Kept alone in this file because Debian's packer 1.6.6, which validates the
# template in `make test`, has the builders built in and rejects this block;
# infra/deploy.sh leaves this file out when it runs that version.
packer {
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
    azure = {
      source  = "github.com/hashicorp/azure"
      version = ">= 2.0.0"
    }
    googlecompute = {
      source  = "github.com/hashicorp/googlecompute"
      version = ">= 1.1.0"
    }
  }
}

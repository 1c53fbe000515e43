# The Azure builder is a plugin since Packer 1.7: `packer init runner_images/packer` installs it.
packer {
  required_version = ">= 1.10.0"
  required_plugins {
    azure = {
      source  = "github.com/hashicorp/azure"
      version = "~> 2"
    }
  }
}

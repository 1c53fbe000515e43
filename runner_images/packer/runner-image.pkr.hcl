# The prebaked runner image: Ubuntu LTS with the GitHub runner, gitlab-runner, Docker, kubectl,
# kubelogin, helm and the Azure CLI, published as a version of an Azure Compute Gallery image.
# Every version comes from ../versions.json, the list the cloud-init templates read as well.
#
#   packer init runner_images/packer
#   packer build -var subscription_id=... -var gallery_resource_group=... -var gallery_name=... \
#     -var image_version=1.0.0 runner_images/packer

variable "subscription_id" {
  type        = string
  description = "Subscription of the Compute Gallery (and of the temporary build VM)."
}

variable "gallery_resource_group" {
  type        = string
  description = "Resource group of the Compute Gallery; the intermediate managed image is kept there too."
}

variable "gallery_name" {
  type        = string
  description = "The Compute Gallery that receives the image version (infra/ creates it)."
}

variable "image_name" {
  type        = string
  default     = "runner-fleet-ubuntu"
  description = "The gallery image definition (infra/ creates it: Linux, generalized, Hyper-V generation 2)."
}

variable "image_version" {
  type        = string
  description = "The gallery image version to publish, MAJOR.MINOR.PATCH (the gallery rejects other forms)."
}

variable "location" {
  type        = string
  default     = "westeurope"
  description = "Region of the build VM."
}

variable "replication_regions" {
  type        = list(string)
  default     = ["westeurope"]
  description = "Regions the image version is replicated to: every region a pool creates VMs in."
}

variable "vm_size" {
  type    = string
  default = "Standard_D2s_v5"
}

variable "build_resource_group" {
  type        = string
  default     = ""
  description = "An existing resource group for the build VM; empty lets Packer create and delete a temporary one."
}

locals {
  versions = jsondecode(file("${abspath(path.root)}/../versions.json"))
  # Managed image names allow dots; a version makes each build's intermediate image distinct.
  managed_image_name = "${var.image_name}-${var.image_version}"
}

source "azure-arm" "runner" {
  use_azure_cli_auth = true
  subscription_id    = var.subscription_id

  os_type         = "Linux"
  image_publisher = local.versions.base_image.publisher
  image_offer     = local.versions.base_image.offer
  image_sku       = local.versions.base_image.sku
  image_version   = local.versions.base_image.version

  location                  = var.build_resource_group == "" ? var.location : null
  build_resource_group_name = var.build_resource_group == "" ? null : var.build_resource_group
  vm_size                   = var.vm_size

  managed_image_name                = local.managed_image_name
  managed_image_resource_group_name = var.gallery_resource_group

  shared_image_gallery_destination {
    subscription        = var.subscription_id
    resource_group      = var.gallery_resource_group
    gallery_name        = var.gallery_name
    image_name          = var.image_name
    image_version       = var.image_version
    replication_regions = var.replication_regions
  }

  azure_tags = {
    "managed-by"     = "runner-fleet"
    "github-runner"  = local.versions.github_runner.version
    "gitlab-runner"  = local.versions.gitlab_runner.version
    "base-image-sku" = local.versions.base_image.sku
  }
}

build {
  sources = ["source.azure-arm.runner"]

  provisioner "file" {
    source      = "${abspath(path.root)}/../versions.json"
    destination = "/tmp/runner-fleet-versions.json"
  }

  provisioner "shell" {
    script          = "${abspath(path.root)}/install.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"
    environment_vars = [
      "VERSIONS_FILE=/tmp/runner-fleet-versions.json",
    ]
  }

  # Generalize last: the Azure agent removes the build user and host-specific state.
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    inline = [
      "rm -f /tmp/runner-fleet-versions.json",
      "/usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync",
    ]
    inline_shebang = "/bin/sh -x"
  }
}

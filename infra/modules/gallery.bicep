// The Compute Gallery the Packer template publishes the prebaked runner image to.
param location string
param prefix string
param tags object

@description('Image definition name; the Packer template\'s image_name.')
param imageName string = 'runner-fleet-ubuntu'

resource gallery 'Microsoft.Compute/galleries@2023-07-03' = {
  name: 'gal${prefix}runners'
  location: location
  tags: tags
  properties: {
    description: 'Prebaked runner-fleet runner images (runner_images/packer).'
  }
}

resource image 'Microsoft.Compute/galleries/images@2023-07-03' = {
  parent: gallery
  name: imageName
  location: location
  tags: tags
  properties: {
    osType: 'Linux'
    osState: 'Generalized'
    hyperVGeneration: 'V2'
    architecture: 'x64'
    identifier: {
      publisher: 'runner-fleet'
      offer: 'runner-fleet-ubuntu'
      sku: '24_04-lts'
    }
    features: [
      {
        name: 'SecurityType'
        value: 'TrustedLaunchSupported'
      }
    ]
  }
}

output galleryName string = gallery.name
output imageDefinitionId string = image.id

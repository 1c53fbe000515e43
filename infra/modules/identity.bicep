// A user-assigned identity of the Function App: the one its code acts as (the provisioner), or the
// one the platform handles its code package with. Runner VMs get none: every job could take its token.
param location string
param name string
param tags object

resource provisioner 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = provisioner.id
output clientId string = provisioner.properties.clientId
output principalId string = provisioner.properties.principalId

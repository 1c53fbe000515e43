// The provisioner's custom role on the runner resource group: exactly what creating, watching and
// deleting runner VMs takes, and the reads the network preflight makes on the runner network.
param prefix string
param principalId string

resource provisioner 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, prefix, 'runner-fleet-provisioner')
  properties: {
    roleName: 'runner-fleet provisioner (${prefix})'
    description: 'Creates, reads, lists and deletes single-use runner VMs in one resource group.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // One PUT per runner, GET (with instance view) while it boots, LIST to reconcile, DELETE after.
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/virtualMachines/write'
          'Microsoft.Compute/virtualMachines/delete'
          'Microsoft.Compute/virtualMachines/instanceView/read'
          // The VM PUT creates its NIC inline (networkInterfaceConfigurations) and, for managed OS
          // disks, its disk: Resource Manager checks these actions on the caller (linked authorization).
          'Microsoft.Network/networkInterfaces/read'
          'Microsoft.Network/networkInterfaces/write'
          'Microsoft.Network/networkInterfaces/join/action'
          'Microsoft.Network/networkInterfaces/delete'
          'Microsoft.Compute/disks/read'
          'Microsoft.Compute/disks/write'
          'Microsoft.Compute/disks/delete'
          'Microsoft.Network/virtualNetworks/subnets/join/action'
          // VMs from the prebaked image in this group's gallery.
          'Microsoft.Compute/galleries/read'
          'Microsoft.Compute/galleries/images/read'
          'Microsoft.Compute/galleries/images/versions/read'
          // The network preflight on the runner side: VNet, subnets, peerings, NSGs, routes.
          'Microsoft.Network/virtualNetworks/read'
          'Microsoft.Network/virtualNetworks/subnets/read'
          'Microsoft.Network/virtualNetworks/virtualNetworkPeerings/read'
          'Microsoft.Network/networkSecurityGroups/read'
          'Microsoft.Network/routeTables/read'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, provisioner.id)
  properties: {
    roleDefinitionId: provisioner.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// What the provisioner's identity may do on the runner side, each grant at the narrowest scope
// that can hold it:
//   - runner VMs, their NICs and OS disks: the resource group (a VM that does not exist yet has no
//     narrower scope to be granted on);
//   - joining a subnet: the runner subnet only, not every subnet of the VNet;
//   - reading the prebaked image: the Compute Gallery only;
//   - the preflight's reads: the runner VNet (its subnets and peerings) and the runner NSG.
// Every action listed is one the service's calls need (runner_fleet/adapters/azure/compute.py and
// network.py); Resource Manager checks the NIC, disk and subnet actions on the caller when the VM
// PUT creates them (linked authorization: `LinkedAuthorizationFailed` names a missing one).
param prefix string
param principalId string
param vnetName string
param subnetName string
param nsgName string
param galleryName string

@description('The custom role that reads the network (main.bicep: runner-fleet network reader).')
param networkReaderRoleName string

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' existing = {
  name: vnetName
}

resource subnet 'Microsoft.Network/virtualNetworks/subnets@2024-05-01' existing = {
  parent: vnet
  name: subnetName
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' existing = {
  name: nsgName
}

resource gallery 'Microsoft.Compute/galleries@2023-07-03' existing = {
  name: galleryName
}

resource runnerVms 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, prefix, 'runner-fleet-provisioner')
  properties: {
    roleName: 'runner-fleet provisioner (${prefix})'
    description: 'Creates, reads, lists and deletes single-use runner VMs, their NICs and OS disks, in one resource group.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          // One PUT per runner, GET (with instance view) while it boots, LIST to reconcile, DELETE after.
          'Microsoft.Compute/virtualMachines/read'
          'Microsoft.Compute/virtualMachines/write'
          'Microsoft.Compute/virtualMachines/delete'
          'Microsoft.Compute/virtualMachines/instanceView/read'
          // The VM PUT creates its NIC inline (networkInterfaceConfigurations, deleteOption Delete)
          // and, for managed OS disks, its disk; the VM's delete removes both.
          'Microsoft.Network/networkInterfaces/read'
          'Microsoft.Network/networkInterfaces/write'
          'Microsoft.Network/networkInterfaces/join/action'
          'Microsoft.Network/networkInterfaces/delete'
          'Microsoft.Compute/disks/read'
          'Microsoft.Compute/disks/write'
          'Microsoft.Compute/disks/delete'
        ]
        // No publicIPAddresses/write or /join/action: a runner NIC can never get a public IP, and
        // no managedIdentities/assign/action: a runner VM can never get a user-assigned identity.
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource subnetJoin 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, prefix, 'runner-fleet-subnet-join')
  properties: {
    roleName: 'runner-fleet subnet join (${prefix})'
    description: 'Places runner VM NICs in the runner subnet.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Network/virtualNetworks/subnets/join/action'
        ]
        notActions: []
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

resource runnerVmsAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, runnerVms.id)
  properties: {
    roleDefinitionId: runnerVms.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource subnetJoinAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subnet.id, principalId, subnetJoin.id)
  scope: subnet
  properties: {
    roleDefinitionId: subnetJoin.id
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Built-in Reader on the gallery alone: the VM PUT reads the image version it boots from.
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource galleryRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(gallery.id, principalId, readerRoleId)
  scope: gallery
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource vnetRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vnet.id, principalId, networkReaderRoleName)
  scope: vnet
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', networkReaderRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource nsgRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(nsg.id, principalId, networkReaderRoleName)
  scope: nsg
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', networkReaderRoleName)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Guard rails on the runner resource group, enforced by Azure Policy for every deployer: no VM
// with a managed identity (every job on it could take the identity's token from IMDS) and no NIC
// with a public IP (runners are reachable from nowhere). Deny effects need no assignment identity.
param prefix string

@description('The custom "no managed identity on VMs" definition (main.bicep).')
param noVmIdentityDefinitionId string

// Built-in "Network interfaces should not have public IPs" (deny, no parameters):
// Azure/azure-policy built-in-policies/policyDefinitions/Network/NetworkPublicIPNic_Deny.json.
var noPublicIpOnNic = '/providers/Microsoft.Authorization/policyDefinitions/83a86a26-fd1f-447c-b59d-e51f44264114'

resource denyPublicIp 'Microsoft.Authorization/policyAssignments@2022-06-01' = {
  name: 'rf-${prefix}-no-public-ip-nic'
  properties: {
    displayName: 'runner-fleet (${prefix}): network interfaces must not have public IPs'
    description: 'Runner VMs take jobs from the forge over outbound connections only; a public IP would expose them.'
    policyDefinitionId: noPublicIpOnNic
    enforcementMode: 'Default'
  }
}

resource denyVmIdentity 'Microsoft.Authorization/policyAssignments@2022-06-01' = {
  name: 'rf-${prefix}-no-vm-identity'
  properties: {
    displayName: 'runner-fleet (${prefix}): virtual machines must have no managed identity'
    description: 'Every job on a runner VM could take a VM identity\'s token: runner VMs get none.'
    policyDefinitionId: noVmIdentityDefinitionId
    enforcementMode: 'Default'
  }
}

// An example: a private AKS cluster "aks-prod" in westeurope whose API server name lives in the
// system-managed private DNS zone AKS created in its node resource group. Copy, then replace every
// value marked EDIT. Secrets are not parameters: put them in the Key Vault after deployment (see
// docs/deploy.md).
using 'main.bicep'

param location = 'westeurope' // EDIT: the cluster's region
param prefix = 'rfprod' // EDIT: 2-10 lower-case letters and digits

param runnerVnetAddressPrefix = '10.20.0.0/16' // EDIT: must not overlap the cluster VNet
param runnerSubnetPrefix = '10.20.0.0/24'

// EDIT: the cluster's VNet (for AKS-managed networking it is in the node resource group).
param clusterVnetId = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/Microsoft.Network/virtualNetworks/vnet-aks'
param aksClusterId = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod'

// EDIT: `az aks show -g rg-aks -n aks-prod --query "{fqdn: privateFqdn, rg: nodeResourceGroup}"`;
// the zone is the FQDN without its first label.
param clusterDnsZoneMode = 'system'
param clusterNodeResourceGroup = 'MC_rg-aks_aks-prod_westeurope'
param clusterDnsZoneName = '7f3a9c2e-1b2c-4d5e-8f90-123456789abc.privatelink.westeurope.azmk8s.io'
// For a zone you manage instead:
// param clusterDnsZoneMode = 'custom'
// param clusterDnsZoneId = '/subscriptions/.../resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.westeurope.azmk8s.io'

// The private DNS zones of a registry's and a Key Vault's private endpoints jobs use, linked to the
// runner VNet (they may be in other resource groups or subscriptions); '' for none. Runner VMs check
// before registering that each endpoint name resolves to a private address and answers on TCP 443.
param acrPrivateDnsZoneId = '' // e.g. '/subscriptions/.../resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.azurecr.io'
param keyVaultPrivateDnsZoneId = '' // e.g. '/subscriptions/.../resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net'
// Any further zones jobs need besides the cluster's.
param extraDnsZoneIds = []

// EDIT: the API server's private address, the one address in the network runner VMs may reach
// (TCP 443): the A record of the cluster's private FQDN in its zone,
// `az network private-dns record-set a show -g MC_rg-aks_aks-prod_westeurope
//   -z <clusterDnsZoneName> -n <first label of the FQDN> --query "aRecords[].ipv4Address"`.
param apiServerPrivateAddress = '10.10.0.4'
// Other private endpoints jobs reach on TCP 443 (the registry's and the vault's: the private IPs in
// their endpoints' DNS configuration), addresses or prefixes. Nothing else in the network is open.
param privateEndpointAddresses = [] // e.g. ['10.10.2.4', '10.10.2.5', '10.10.2.6']

param enableDoctorFix = false
param enableVnetIntegration = false

// The runners' one way out to their forge: a NAT gateway (the default), or your firewall. With a
// firewall's private IP (in the runner VNet or a VNet peered with it, e.g. the cluster VNet) a route
// table sends 0.0.0.0/0 to it and no NAT gateway is made; the firewall must allow the forge hosts
// `runner-fleet doctor` lists.
param egressFirewallIp = '' // e.g. '10.10.255.4'

param enableGitHub = true
param githubAppId = '123456' // EDIT: the GitHub App's ID
param enableGitLab = false
param gitlabUrl = 'https://gitlab.com'
param gitlabWebhookSigning = true

// The fleet's workbook and alert rules (docs/deploy.md, "Monitoring"). Who the alerts mail; empty: no
// action group, the alerts show in Azure Monitor > Alerts only. Existing action groups can be added.
param enableMonitoring = true
param alertEmailAddresses = [] // e.g. ['platform-oncall@example.com']
param alertActionGroupIds = []
param alertWaitP95Seconds = 300 // a pool's p95 job wait over 30 minutes
param alertForgeApiRemaining = 500 // requests left in a forge's rate-limit window
param alertLeakedVmsPerHour = 2 // VMs the reconciler deleted because their release never came
param alertPreflightFailingMinutes = 15 // a pool's preflight check failing this long

// EDIT: the pools (RUNNER_POOLS). azure.subnet_id is the runnerSubnetId output; use the Compute
// Gallery image (imageDefinitionId output + /versions/<version>) once the Packer build has run.
// github.runner_group_id: a runner group of the pool's own (never 1, the org's Default group) that
// admits exactly the pool's repositories (all private ones for a pool that lists none).
param runnerPools = '''
[
  {
    "name": "aks-prod",
    "forge": "github",
    "labels": ["aks-prod"],
    "github": {"org": "example-org", "runner_group_id": 2},
    "azure": {
      "subscription_id": "00000000-0000-0000-0000-000000000001",
      "resource_group": "rg-rfprod-runners",
      "location": "westeurope",
      "subnet_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-rfprod-runners/providers/Microsoft.Network/virtualNetworks/vnet-rfprod-runners/subnets/snet-runners",
      "vm_sizes": ["Standard_D2ads_v5", "Standard_D2s_v5"]
    },
    "cluster": {
      "aks_cluster_id": "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks-prod"
    },
    "limits": {"max_runners": 8}
  }
]
'''

"""The network probe (`runner-fleet doctor --probe`): a throwaway VM in a pool's runner subnet, with the
pool's image and no secret, that resolves and connects (TCP, then a TLS handshake) to everything a
runner of the pool needs, says what it found on its serial console, and is deleted, always.

What the preflight reads from Resource Manager is the configuration; the probe is what a VM there
actually gets: custom DNS servers that do not forward, a firewall that drops the forge, a zone linked
to the wrong VNet all show here as a name that does not resolve privately or a connection that fails.

`targets` says what a pool's probe tries, `userdata` renders its cloud-config (probe.json and
runner_images/common/probe.sh), `console` reads the lines the script prints, `verdict` judges each
target, `vm` names and tags the VM and says when a left-over one may go, `run` is the use case, and
`report` turns outcomes into doctor's document and settles the `custom-dns` warning.
"""

# The two commands a newcomer types: `make demo` and `make test`.
SHELL := /bin/bash
HIVE := target/release/hive
FUZZ_SECONDS ?= 60

.PHONY: demo test setup build check unit fuzz bench

## Build hive and show it on the examples.
demo: setup build
	@echo "== hive validate: the example cluster (three VMs on a NAT bridge)"
	$(HIVE) -C examples/cluster validate
	@echo "== hive validate: a CI pipeline of local commands"
	$(HIVE) -C examples/pipeline validate
	@echo "== hive fmt --check: the examples are in canonical form"
	$(HIVE) -C examples/cluster fmt --check && $(HIVE) -C examples/pipeline fmt --check
	@echo "== what a mistake looks like"
	-$(HIVE) -C tests/fixtures/invalid/unknown_attribute validate
	@echo "== hive apply: the pipeline of local commands, for real"
	$(HIVE) -C examples/pipeline apply -auto-approve
	$(HIVE) -C examples/pipeline output -json
	@echo "== a second plan has nothing to do"
	$(HIVE) -C examples/pipeline plan -detailed-exitcode
	$(HIVE) -C examples/pipeline destroy -auto-approve
	@echo "== hive apply: three VMs on a NAT bridge (tiny guests, QEMU without KVM)"
	$(HIVE) -C examples/cluster apply -auto-approve
	@echo "== their addresses"
	$(HIVE) -C examples/cluster output ips
	@echo "== logging into one over SSH"
	$(HIVE) -C examples/cluster ssh 'instance.node[0]' -- 'echo "hello from $$(hostname), kernel $$(uname -r)"'
	@echo "== hive apply: a VM and two LXD containers on one Linux bridge hive owns"
	$(HIVE) -C examples/containers apply -auto-approve
	@echo "== the VM reaches a container, and a container the VM (LXD exec: busybox has no sshd)"
	$(HIVE) -C examples/containers ssh instance.vm -- ping -c 1 "$$($(HIVE) -C examples/containers output --raw box0_ip)"
	$(HIVE) -C examples/containers ssh 'instance.box[0]' -- ping -c 1 "$$($(HIVE) -C examples/containers output --raw vm_ip)"
	@echo "== a volume kept in S3 survives destroy and re-apply (the lab's SeaweedFS on loopback)"
	HIVE=$(HIVE) bash examples/stored-volume/demo.sh
	@echo "== an LXD cluster on three multipass instances (the stand-in of multipass's CLI: multipass is a snap, which this machine cannot run)"
	$(HIVE) -C examples/lxd-cluster apply -auto-approve -var multipass=$(CURDIR)/tests/support/multipass
	$(HIVE) -C examples/lxd-cluster output members
	tests/support/multipass exec lxd-master -- lxc cluster list
	$(HIVE) -C examples/lxd-cluster destroy -auto-approve -var multipass=$(CURDIR)/tests/support/multipass
	@echo
	@echo "The cluster is still running. Log in:  $(HIVE) -C examples/cluster ssh 'instance.node[1]'"
	@echo "Remove it:                             $(HIVE) -C examples/cluster destroy"
	@echo "And the containers:                    $(HIVE) -C examples/containers destroy"
	@echo "And the VM with the stored volume:     $(HIVE) -C examples/stored-volume destroy"


## Install what the tests need, then run every tier.
test: setup check unit fuzz

setup:
	bash lab/setup.sh

build:
	cargo build --release

check:
	cargo fmt --all -- --check
	cargo clippy --all-targets --workspace -- -D warnings

# The lab's hosts (lab/hosts.sh), which the hosts tier brings up, are taken down whatever
# the outcome.
unit:
	cargo test --workspace; status=$$?; bash lab/hosts.sh down; exit $$status

fuzz:
	bash lab/fuzz.sh $(FUZZ_SECONDS)

bench:
	cargo bench --bench validate
	cargo bench --bench engine
	cargo bench --bench libvirt
	cargo bench --bench bridge
	cargo bench --bench lxd
	cargo bench --bench multipass
	cargo bench --bench hosts
	cargo bench --bench ci
	cargo bench --bench scan
	cargo bench --bench s3_state
	cargo bench --bench s3_transfer
	cargo bench --bench s3_snapshot


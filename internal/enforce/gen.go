package enforce

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type decision -type net_rules -type net_rule -type lpm_key -type exec_key -type exec_val -type policy_cfg enforce bpf/enforce.c

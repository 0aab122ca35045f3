package enforce

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I../sensor/bpf/include" -target bpfel -type decision -type net_rules -type net_rule -type lpm_key -type exec_key -type exec_val -type policy_cfg -type exec_facts -type devino -type file_hash -type held_task -type exec_kind -type exec_verdict -type hold_reason enforce bpf/enforce.c

"""The bubblewrap sandbox's syscall filter: a seccomp deny-list, compiled to BPF by libseccomp.

Modelled on Flatpak's filter (which also runs under bubblewrap) and on the calls Docker's default
profile refuses to an unprivileged container; docs/workspaces.md says what is blocked and why.
Everything not listed is allowed; a syscall of another ABI (i386 or x32 on x86-64, arm32 on
aarch64) kills the process, so the filter cannot be sidestepped through a compat table.
"""

from __future__ import annotations

import errno
import functools
import platform
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from tre.workspaces.errors import SandboxUnavailable

# libseccomp's comparison operators (enum scmp_compare)
NE, EQ, GE, MASKED_EQ = 1, 4, 5, 7

NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000,
                   "CLONE_NEWUTS": 0x04000000, "CLONE_NEWIPC": 0x08000000,
                   "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}
"""clone(2) flags that make a namespace (CLONE_NEWTIME's bit is clone's exit signal)."""

SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK)
"""The only socket families a sandbox may open: unix sockets (the hub bridge), IP on its own
loopback (JupyterLab's kernels), and netlink for glibc's interface and address look-ups."""
PER_LINUX = 0
TIOCSTI, TIOCLINUX = 0x5412, 0x541C


@dataclass(frozen=True, slots=True)
class Arg:
    """One comparison of a syscall argument: ``args[index] OP value`` (MASKED_EQ: ``& mask``)."""

    index: int
    op: int
    value: int
    mask: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """Fail ``syscall`` with ``errno`` when every comparison in ``args`` holds (always, if none)."""

    syscall: str
    errno: int = errno.EPERM
    args: tuple[Arg, ...] = ()


def _deny(errnum: int, *names: str) -> tuple[Rule, ...]:
    return tuple(Rule(name, errnum) for name in names)


RULES: tuple[Rule, ...] = (
    # controlling or reading another process, even the caller's own child
    *_deny(errno.EPERM, "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
           "pidfd_getfd"),
    # new namespaces and mounts: kernel attack surface that user namespaces open up
    *_deny(errno.EPERM, "unshare", "setns", "mount", "umount", "umount2", "pivot_root",
           "chroot"),
    *(Rule("clone", errno.EPERM, (Arg(0, MASKED_EQ, bit, bit),))
      for bit in NAMESPACE_FLAGS.values()),
    # seccomp cannot read clone3's flags (they sit in memory): ENOSYS makes glibc use clone
    *_deny(errno.ENOSYS, "clone3"),
    # the new mount API; ENOSYS, like Flatpak, so callers fall back to mount(2) (refused)
    *_deny(errno.ENOSYS, "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
           "mount_setattr"),
    # the kernel keyring is not namespaced
    *_deny(errno.EPERM, "keyctl", "add_key", "request_key"),
    # frequent sources of kernel exploits, with no use in a notebook
    *_deny(errno.EPERM, "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
           "io_uring_enter", "io_uring_register", "fanotify_init"),
    # host administration
    *_deny(errno.EPERM, "kexec_load", "kexec_file_load", "init_module", "finit_module",
           "delete_module", "create_module", "reboot", "swapon", "swapoff", "acct",
           "quotactl", "quotactl_fd", "open_by_handle_at", "name_to_handle_at", "syslog",
           "lookup_dcookie", "vhangup"),
    # NUMA placement across the host's memory (Docker: CAP_SYS_NICE only)
    *_deny(errno.EPERM, "move_pages", "migrate_pages", "mbind", "set_mempolicy",
           "get_mempolicy", "set_mempolicy_home_node"),
    # legacy x86 modes and port I/O
    *_deny(errno.EPERM, "vm86", "vm86old", "iopl", "ioperm", "modify_ldt", "uselib"),
    # execution domains other than Linux's (e.g. READ_IMPLIES_EXEC, no address randomisation)
    Rule("personality", errno.EPERM, (Arg(0, NE, PER_LINUX),)),
    # pushing input into a terminal that another process reads
    *(Rule("ioctl", errno.EPERM, (Arg(1, MASKED_EQ, request, 0xFFFFFFFF),))
      for request in (TIOCSTI, TIOCLINUX)),
    # socket families outside SOCKET_FAMILIES (AF_PACKET, AF_KEY, AF_VSOCK, AF_ALG...), and
    # netlink other than routing (audit, xfrm, netfilter...)
    *(Rule("socket", errno.EAFNOSUPPORT, (Arg(0, EQ, family),))
      for family in range(max(SOCKET_FAMILIES)) if family not in SOCKET_FAMILIES),
    Rule("socket", errno.EAFNOSUPPORT, (Arg(0, GE, max(SOCKET_FAMILIES) + 1),)),
    Rule("socket", errno.EPROTONOSUPPORT,
         (Arg(0, EQ, socket.AF_NETLINK), Arg(2, NE, socket.NETLINK_ROUTE))),
)
"""Every refusal of the filter; any other syscall is allowed."""


@functools.cache
def filter_program(arch: str = "native", rules: Sequence[Rule] = RULES) -> bytes:
    """The filter as classic BPF for bwrap's ``--seccomp FD``, for x86-64 or aarch64.

    Raises SandboxUnavailable (naming the fix) when libseccomp is missing or refuses a rule:
    a sandbox must not start unfiltered.
    """
    try:
        import pyseccomp as sc  # type: ignore[import-untyped]
    except (ImportError, OSError, AttributeError, TypeError) as exc:
        raise SandboxUnavailable(
            f"cannot load libseccomp to build the sandbox's syscall filter ({exc}): install "
            "Debian's libseccomp2 and tre's dependencies (`pip install -e .`)") from None
    arches = {"x86_64": sc.Arch.X86_64, "aarch64": sc.Arch.AARCH64}
    native = {v: k for k, v in arches.items()}.get(sc.system_arch())
    name = (native or platform.machine()) if arch == "native" else arch
    if name not in arches:
        raise SandboxUnavailable(
            f"tre's syscall filter covers x86_64 and aarch64, not {name}: run workspaces on "
            "the Docker backend on this machine")
    try:
        syscall_filter = sc.SyscallFilter(sc.ALLOW)
        # another ABI's syscalls (i386's int 0x80, x32's numbers) would bypass the rules
        syscall_filter.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
        if arches[name] != sc.system_arch():
            syscall_filter.add_arch(arches[name])
            syscall_filter.remove_arch(sc.Arch.NATIVE)
        for rule in rules:
            number = sc.resolve_syscall(arches[name], rule.syscall)
            if number == -1:
                raise SandboxUnavailable(f"libseccomp does not know the syscall {rule.syscall!r}:"
                                         " update libseccomp2")
            if number < 0:
                continue  # not a syscall of this architecture (i386's vm86 on x86-64...)
            # libseccomp takes MASKED_EQ's mask first; it resolves names natively and
            # translates them to a foreign target arch
            syscall_filter.add_rule(
                sc.ERRNO(rule.errno), rule.syscall,
                *(sc.Arg(a.index, a.op, a.mask, a.value) if a.op == MASKED_EQ
                  else sc.Arg(a.index, a.op, a.value) for a in rule.args))
        with tempfile.TemporaryFile() as program:
            syscall_filter.export_bpf(program)
            program.seek(0)
            return program.read()
    except OSError as exc:
        raise SandboxUnavailable(f"libseccomp could not build the sandbox's syscall filter "
                                 f"({exc}): update libseccomp2") from None

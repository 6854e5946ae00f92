/**
 * The flag table: the one source for the parser, `--help` and shell
 * completions. Order in each command's list is the order help shows.
 *
 * @module
 */

/**
 * What a flag's value is, for completions and the man page (src/cli/completions.ts): a host `path`
 * (file or directory), a `dir`, a comma list of `namespaces`, a `net-mode`, a `signal`, a `capability`,
 * a `seccomp` mode or profile file, an environment variable's `env-name` or `env-assign` (NAME=VALUE),
 * a `size`, a `number`, or free `text`. Absent: guessed from the placeholder (see `valueKind()`).
 */
export type ValueKind =
  | "path"
  | "dir"
  | "namespaces"
  | "net-mode"
  | "signal"
  | "capability"
  | "seccomp"
  | "profile"
  | "env-name"
  | "env-assign"
  | "size"
  | "number"
  | "text";

/** One flag of one command. */
export interface FlagDef {
  /** Long name without dashes. */
  readonly name: string;
  /** One-letter alias without the dash. */
  readonly short?: string;
  /** Other long names (docker's and podman's spellings), e.g. `volume` for `bind`. */
  readonly aliases?: readonly string[];
  /** Placeholder of the value; absent for a boolean flag. */
  readonly value?: string;
  /** The value when the flag is given without `=VALUE` (the value is then optional). */
  readonly implicit?: string;
  /**
   * The values it takes. For a flag with an optional value, the next argument
   * is taken as its value (`--net host`) when it is one of these, and left as
   * an operand otherwise (`--net curl ...`). Completions offer them.
   */
  readonly choices?: readonly string[];
  /** May be given more than once (values kept in order). */
  readonly repeatable?: boolean;
  /** Part of the ordered mount list (`--bind`, `--ro-bind`, `--tmpfs`). */
  readonly ordered?: boolean;
  /**
   * A docker, podman or bubblewrap flag whose behaviour is nsbox's default:
   * accepted and otherwise ignored. `note` is printed on stderr (one
   * `nsbox: --flag: NOTE` line) when given; without it, it is accepted silently.
   */
  readonly compat?: { readonly note?: string };
  /** What the value is (completions, man page); absent: guessed from `value`. */
  readonly kind?: ValueKind;
  /** Help section. */
  readonly group: string;
  /** One line of help. */
  readonly help: string;
}

/** What a command takes after its options (for completions and the man page). */
export interface OperandsDef {
  /** Sandbox names first: "running" ones (`nsbox ps`) or "all" (`nsbox ps --all`); one or `many`. */
  readonly sandboxes?: { readonly which: "running" | "all"; readonly many: boolean };
  /** Then (or only) COMMAND [ARGS...]. */
  readonly command?: boolean;
  /** One of these words. */
  readonly choices?: readonly string[];
}

/** One subcommand. */
export interface CommandDef {
  readonly name: string;
  /** Its operands; absent: none. */
  readonly operands?: OperandsDef;
  readonly usage: string;
  readonly summary: string;
  readonly description: string;
  readonly flags: readonly FlagDef[];
  readonly examples: ReadonlyArray<[string, string]>;
  /** What its exit statuses mean (the end of its `--help`). */
  readonly exits: string;
  /**
   * Options may follow operands (`nsbox logs NAME -f`); `--` still ends them.
   * Not for commands that run a command line (`run`, `exec`), whose options end at the first operand.
   */
  readonly interleaved?: boolean;
}

/** The built-in profiles of `--profile` (their names are reserved; src/cli/profile.ts has their contents). */
export const BUILTIN_PROFILES = ["untrusted", "build"] as const;

const HELP_FLAG: FlagDef = { name: "help", short: "h", group: "Output", help: "show this help and exit" };

const ENV_FLAG: FlagDef = {
  name: "env",
  short: "e",
  value: "NAME[=VALUE]",
  repeatable: true,
  group: "Environment",
  help: "set a variable; a bare NAME takes its value in nsbox's environment (skipped when it has none)",
};

const ENV_FILE_FLAG: FlagDef = {
  name: "env-file",
  value: "FILE",
  repeatable: true,
  group: "Environment",
  help: "set the variables of FILE, docker's format: NAME=VALUE lines (the value as is, no quotes removed), " +
    "a bare NAME as with --env, blank lines and lines starting with # skipped",
};

/** docker's -i and -t: nsbox always passes stdin and the caller's terminal through. */
const TTY_FLAGS: readonly FlagDef[] = [
  {
    name: "interactive",
    short: "i",
    compat: {},
    group: "Accepted as the default",
    help: "docker's: stdin is always passed through (accepted silently)",
  },
  {
    name: "tty",
    short: "t",
    compat: {},
    group: "Accepted as the default",
    help: "docker's: the command always gets your terminal, when there is one (accepted silently)",
  },
];

const RUN_EXITS = "Exit status: the command's; 128+N when it is killed by signal N; 124 when --timeout expired;\n" +
  "125 for nsbox's own errors; 126 when the command cannot be executed; 127 when it is not found.";

/** `nsbox run`. */
export const RUN: CommandDef = {
  name: "run",
  operands: { command: true },
  usage: "nsbox run [OPTIONS] [--] COMMAND [ARGS...]",
  summary: "run a command in a new sandbox",
  description: "Runs COMMAND in new user, mount, PID, UTS, IPC, network and cgroup namespaces, as you, with no\n" +
    "capabilities, the host's / read-only, a fresh /proc, a minimal /dev and an empty private /tmp.\n" +
    "COMMAND is looked up in the sandbox's PATH. Options end at `--` or at the first argument that\n" +
    "is not one. Mount options apply in the order given, after the default view.",
  flags: [
    {
      name: "profile",
      value: "NAME|FILE",
      kind: "profile",
      group: "Profile",
      help: "start from a profile: built-in untrusted or build, NAME.json in ~/.config/nsbox/profiles, or a JSON " +
        "FILE; the flags given here add to its lists and replace its other values (see nsbox profile show NAME)",
    },
    {
      name: "name",
      value: "NAME",
      group: "Lifecycle",
      help: "what nsbox ps, exec, kill and logs call it (default: 8 random hex digits)",
    },
    {
      name: "detach",
      short: "d",
      group: "Lifecycle",
      help: "run in the background: print the name and return; output goes to `nsbox logs NAME`",
    },
    {
      name: "log-size",
      value: "SIZE",
      group: "Lifecycle",
      help: "with --detach: hold the log to SIZE, keeping the newest output (default: 10M; at least 4k)",
    },
    {
      name: "share",
      value: "NS[,NS...]",
      repeatable: true,
      group: "Namespaces",
      help: "keep the host's namespace: net, ipc, uts or pid",
    },
    { name: "hostname", value: "NAME", group: "Namespaces", help: "hostname inside (default: nsbox)" },
    {
      name: "net",
      aliases: ["network"],
      value: "MODE",
      implicit: "auto",
      choices: ["pasta", "slirp4netns", "host", "none"],
      kind: "net-mode",
      group: "Network",
      help: "outbound network: --net (pasta, or slirp4netns without it), --net pasta, --net slirp4netns, " +
        "--net host (the host's); default: none (loopback only). A MODE after a space is taken as the value: " +
        "`--net -- host example.com` runs host(1)",
    },
    {
      name: "publish",
      short: "p",
      value: "[IP:]HOSTPORT:PORT[/udp]",
      repeatable: true,
      group: "Network",
      help: "forward host port HOSTPORT (on IP, default 127.0.0.1) to PORT inside; needs --net, or --allow-host " +
        "(TCP only: through nsbox's relay, no route out)",
    },
    {
      name: "allow-host",
      value: "PATTERN",
      kind: "text",
      repeatable: true,
      group: "Network",
      help: "filtered egress: only through nsbox's proxy (127.0.0.1:3128 inside, HTTP_PROXY and friends set), " +
        "to hosts matching PATTERN: a name, *.SUFFIX, an IP or CIDR, each with an optional :PORT; * for " +
        "everything (still reported). No route out otherwise, no DNS inside",
    },
    {
      name: "allow-host-loopback",
      group: "Network",
      help: "let a --net sandbox reach the host's loopback services (through the gateway address)",
    },
    { name: "root", group: "Identity", help: "be uid 0 inside, with the namespace's capabilities" },
    {
      name: "user",
      short: "u",
      value: "UID[:GID]",
      group: "Identity",
      help: "be UID (and GID; default: UID's group in the root's /etc/passwd, else 0) inside, numbers from 0 to " +
        "4294967294 or names in the root's /etc/passwd and /etc/group; --user 0 is --root (with its capabilities), " +
        "any other uid has none",
    },
    {
      name: "map-users",
      group: "Identity",
      help: "also map your /etc/subuid and /etc/subgid ranges (needs newuidmap, newgidmap)",
    },
    {
      name: "bind",
      short: "v",
      aliases: ["volume"],
      value: "SRC[:DST[:ro|:rw]]",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "bind host path SRC at DST (default: the same path), writable, or read-only with :ro; " +
        "\\: for a ':' in a path (e.g. 'a\\:b:/b')",
    },
    {
      name: "ro-bind",
      value: "SRC[:DST]",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "bind host path SRC at DST, read-only (\\: for a ':' in a path)",
    },
    {
      name: "bind-try",
      value: "SRC[:DST]",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "as --bind, but a SRC that does not exist is skipped (bubblewrap's)",
    },
    {
      name: "ro-bind-try",
      value: "SRC[:DST]",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "as --ro-bind, but a SRC that does not exist is skipped (bubblewrap's)",
    },
    {
      name: "dev-bind",
      value: "SRC[:DST]",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "bind a device node or a directory with its device nodes usable (no nodev; nosuid still), " +
        "e.g. /dev/fuse; see README Security",
    },
    {
      name: "tmpfs",
      value: "DST[:size=SIZE,mode=MODE]",
      kind: "dir",
      repeatable: true,
      ordered: true,
      group: "Filesystem",
      help: "mount an empty tmpfs at DST (default size: a quarter of RAM; mode 0755)",
    },
    {
      name: "hide",
      value: "PATH",
      kind: "path",
      repeatable: true,
      group: "Filesystem",
      help: "make host path PATH (~ is your home) appear empty inside, under the root and under every bind " +
        "that shows it; a missing PATH is ignored; a bind from inside it is refused",
    },
    { name: "rootfs", value: "DIR", group: "Filesystem", help: "use host directory DIR as / (read-only)" },
    {
      name: "proc",
      value: "MODE",
      choices: ["new", "host"],
      group: "Filesystem",
      help: "new: a fresh /proc (the default); host: the existing /proc, bound, with the host's PID namespace " +
        "(= --share pid; weaker: the sandbox sees and can signal your other processes), for containers " +
        "that mask /proc",
    },
    {
      name: "chdir",
      short: "w",
      aliases: ["workdir"],
      value: "DIR",
      group: "Filesystem",
      help: "working directory inside (default: the current one, or / when it is not there)",
    },
    { name: "clearenv", group: "Environment", help: "start from an empty environment" },
    ENV_FLAG,
    ENV_FILE_FLAG,
    {
      name: "setenv",
      value: "NAME=VALUE",
      repeatable: true,
      group: "Environment",
      help: "set a variable (after --clearenv, in order with --unsetenv)",
    },
    {
      name: "unsetenv",
      value: "NAME",
      kind: "env-name",
      repeatable: true,
      group: "Environment",
      help: "remove a variable",
    },
    {
      name: "mem",
      aliases: ["memory"],
      value: "SIZE",
      group: "Resources",
      help: "memory limit, e.g. 256M, 1.5G (memory.max; units k, M, G are binary)",
    },
    {
      name: "swap",
      value: "SIZE",
      group: "Resources",
      help: "swap limit (memory.swap.max; 0 when --mem is given without it)",
    },
    { name: "cpus", value: "N", group: "Resources", help: "CPU time as a number of CPUs, e.g. 0.5 (cpu.max)" },
    { name: "pids", value: "N", group: "Resources", help: "most processes and threads at once (pids.max)" },
    { name: "io-weight", value: "N", group: "Resources", help: "relative I/O weight, 1 to 10000 (io.weight)" },
    {
      name: "timeout",
      value: "DURATION",
      group: "Resources",
      help: "stop the command after DURATION (e.g. 30s, 5m; units ms, s, m, h, d) with SIGTERM, then SIGKILL " +
        "after --kill-after; nsbox then exits 124, as timeout(1) does",
    },
    {
      name: "kill-after",
      value: "DURATION",
      group: "Resources",
      help: "with --timeout: how long after its SIGTERM the command gets SIGKILL (default 10s)",
    },
    {
      name: "cap-add",
      value: "CAP",
      repeatable: true,
      group: "Security",
      help: "give the command a capability, e.g. NET_RAW (inside its own user namespace only)",
    },
    {
      name: "cap-drop",
      value: "CAP",
      repeatable: true,
      group: "Security",
      help: "take a capability away from --root, or ALL",
    },
    {
      name: "seccomp",
      value: "MODE|FILE",
      kind: "seccomp",
      group: "Security",
      help: "default: nsbox's syscall filter (see README); FILE: an OCI (Docker, podman) profile, with nsbox's " +
        "own rules (terminal ioctls, keyrings, user namespaces) still on top; unconfined: no filter at all, " +
        "not even nsbox's own rules",
    },
    { name: "allow-userns", group: "Security", help: "let the sandbox create user namespaces (nested sandboxes)" },
    {
      name: "as-pid-1",
      group: "Process",
      help: "exec COMMAND as PID 1 instead of under nsbox's init (it must reap and handle signals)",
    },
    {
      name: "stats",
      group: "Output",
      help: "print wall time, CPU time, memory and pids peaks and OOM kills on stderr at the end",
    },
    { name: "json", group: "Output", help: "print a JSON report of the run on stderr when it ends" },
    {
      name: "rm",
      compat: { note: "the default: a sandbox is removed when it ends (a detached one's log stays until nsbox rm)" },
      group: "Accepted as the default",
      help: "docker's: nsbox removes a sandbox when it ends (says so on stderr)",
    },
    {
      name: "unshare-all",
      compat: { note: "the default: every namespace is new (--share keeps one of the host's)" },
      group: "Accepted as the default",
      help: "bubblewrap's: every namespace is new unless --share (says so on stderr)",
    },
    {
      name: "die-with-parent",
      compat: { note: "the default: the sandbox is killed when nsbox dies" },
      group: "Accepted as the default",
      help: "bubblewrap's: the sandbox dies with nsbox (says so on stderr)",
    },
    {
      name: "new-session",
      compat: { note: "not needed: the seccomp filter refuses TIOCSTI and TIOCLINUX (see README, Security)" },
      group: "Accepted as the default",
      help: "bubblewrap's: nsbox's seccomp filter already refuses pushing input into your terminal (says so)",
    },
    ...TTY_FLAGS,
    HELP_FLAG,
  ],
  exits: RUN_EXITS,
  examples: [
    ["nsbox run -- sh", "an interactive shell in a sandbox"],
    ["nsbox run --root -- id", "uid 0 inside, still you outside"],
    ["nsbox run --user 1000:1000 -- id", "another uid and gid inside, still you outside"],
    ['nsbox run --bind "$PWD" -- make', "build with only the current directory writable"],
    ["nsbox run --tmpfs /home --hostname box -- sh -c 'hostname; ls -a /home'", "hide home directories"],
    ["nsbox run --bind .:/src -w /src -- ls", "the current directory at /src, even where the host has no /src"],
    ["nsbox run --tmpfs /var/cache:size=256M -- make", "a scratch directory of at most 256M"],
    ["nsbox run --clearenv --setenv PATH=/usr/bin:/bin -- env", "a clean environment"],
    ["nsbox run --as-pid-1 -- sh -c 'echo $$'", "prints 1"],
    ["nsbox run --net -- curl -sI https://deno.com", "outbound network through pasta"],
    ["nsbox run --net -p 8080:8000 -- python3 -m http.server", "a server inside, at 127.0.0.1:8080 on the host"],
    ["nsbox run -d --name web -- python3 -m http.server", "in the background; see nsbox ps, logs, exec, kill"],
    ["nsbox run -d --log-size 1M -- ./chatty-server", "its log keeps the newest 1M at most (default 10M)"],
    ["nsbox run --mem 100M --cpus 0.5 --pids 200 --stats -- make -j4", "a build held to 100M, half a CPU, 200 tasks"],
    ["nsbox run --json -- true", "ends with one JSON line on stderr: exit status, signal, wall time"],
  ],
};

const JSON_FLAG: FlagDef = { name: "json", group: "Output", help: "print JSON instead of a table" };

/** `nsbox ps`. */
export const PS: CommandDef = {
  name: "ps",
  usage: "nsbox ps [--all] [--quiet | --json]",
  summary: "list your running sandboxes",
  description: "Lists your sandboxes: NAME, PID (its PID 1), COMMAND, UPTIME, memory limit and network.\n" +
    "Records of sandboxes that are gone (nsbox killed with SIGKILL) are cleaned up on the way.",
  flags: [
    { name: "all", short: "a", group: "Output", help: "also list detached sandboxes that have ended (see nsbox rm)" },
    { name: "quiet", short: "q", group: "Output", help: "print only the names, one a line" },
    JSON_FLAG,
    HELP_FLAG,
  ],
  interleaved: true,
  exits: "Exit status: 0; 125 for nsbox's own errors (a bad flag, an unusable record directory).",
  examples: [
    ["nsbox ps", "NAME, PID, COMMAND, UPTIME, MEMORY, NET"],
    ["nsbox ps -aq", "the names of all, ended ones too"],
    ["nsbox ps --json | jq '.[].name'", "names"],
  ],
};

/** `nsbox exec`. */
export const EXEC: CommandDef = {
  name: "exec",
  operands: { sandboxes: { which: "running", many: false }, command: true },
  usage: "nsbox exec [OPTIONS] NAME [--] COMMAND [ARGS...]",
  summary: "run a command in a running sandbox",
  description: "Runs COMMAND inside the running sandbox NAME: in its namespaces, cgroup, root and\n" +
    "working directory, as its user, with its environment, capabilities and seccomp filter.",
  flags: [
    {
      name: "chdir",
      short: "w",
      aliases: ["workdir"],
      value: "DIR",
      group: "Process",
      help: "working directory inside (default: the sandbox's)",
    },
    { name: "setenv", value: "NAME=VALUE", repeatable: true, group: "Process", help: "set a variable" },
    { ...ENV_FLAG, group: "Process" },
    {
      name: "unsetenv",
      value: "NAME",
      kind: "env-name",
      repeatable: true,
      group: "Process",
      help: "remove a variable",
    },
    {
      name: "root",
      group: "Process",
      help: "say you expect uid 0 (refused when the sandbox was not started with --root)",
    },
    {
      name: "user",
      short: "u",
      value: "UID[:GID]",
      group: "Process",
      help: "run as UID (and GID; default: the sandbox's gid) inside, numbers or names in the sandbox's " +
        "/etc/passwd and /etc/group; refused unless the sandbox maps them (--map-users maps more)",
    },
    {
      name: "detach",
      short: "d",
      group: "Process",
      help: "start the command and return at once, printing nothing; its output is discarded",
    },
    { name: "json", group: "Output", help: "print a JSON report of the run on stderr when it ends" },
    ...TTY_FLAGS,
    HELP_FLAG,
  ],
  exits: "Exit status: the command's; 128+N when it is killed by signal N; 125 for nsbox's own\n" +
    "errors (no such sandbox); 126 when the command cannot be executed; 127 when it is not found.",
  examples: [
    ["nsbox exec web -- ps -e", "the sandbox's processes"],
    ["nsbox exec web -- sh", "a shell in it"],
    ["nsbox exec -d web -- touch /tmp/ready", "in the background (output discarded)"],
    ["nsbox exec --user 1 web -- id", "as uid 1 (a sandbox started with --map-users)"],
  ],
};

/** `nsbox kill`. */
export const KILL: CommandDef = {
  name: "kill",
  operands: { sandboxes: { which: "running", many: true } },
  usage: "nsbox kill [-s SIGNAL] [--timeout SECS] NAME... | --all",
  summary: "stop running sandboxes",
  description: "Sends SIGNAL (default TERM) to the command of each sandbox named; with --timeout, sends\n" +
    "KILL to whatever is still running after SECS seconds. Waits until each has ended.",
  flags: [
    { name: "signal", short: "s", value: "SIGNAL", group: "Signal", help: "TERM, INT, HUP, KILL, USR1... or a number" },
    {
      name: "timeout",
      value: "SECS",
      group: "Signal",
      help: "then KILL after SECS seconds (default: 10; 0 waits for ever)",
    },
    { name: "all", group: "Signal", help: "every sandbox of yours" },
    HELP_FLAG,
  ],
  interleaved: true,
  exits: "Exit status: 0 once every sandbox named has ended; 125 when a name is unknown (then nothing\n" +
    "is signalled) and for nsbox's own errors.",
  examples: [["nsbox kill web", "TERM, then KILL after 10 s"], ["nsbox kill --all -s KILL", "everything, now"]],
};

/** `nsbox logs`. */
export const LOGS: CommandDef = {
  name: "logs",
  operands: { sandboxes: { which: "all", many: false } },
  usage: "nsbox logs [-f] NAME",
  summary: "print what a detached sandbox wrote",
  description: "Prints the output (stdout and stderr) of a sandbox started with --detach.",
  flags: [
    { name: "follow", short: "f", group: "Output", help: "keep printing until the sandbox ends" },
    HELP_FLAG,
  ],
  interleaved: true,
  exits: "Exit status: 0 once the log is printed (with -f: once the sandbox has ended); 125 when there\n" +
    "is no such sandbox or it has no log, and for nsbox's own errors.",
  examples: [["nsbox logs -f web", "follow it"]],
};

/** `nsbox rm`. */
export const RM: CommandDef = {
  name: "rm",
  operands: { sandboxes: { which: "all", many: true } },
  usage: "nsbox rm NAME... | --all",
  summary: "forget detached sandboxes that have ended",
  description: "Removes the record and log of detached sandboxes that have ended (nsbox ps --all).",
  flags: [{ name: "all", group: "Output", help: "every ended one" }, HELP_FLAG],
  interleaved: true,
  exits: "Exit status: 0 when every sandbox named is removed; 125 when one is running or unknown,\n" +
    "and for nsbox's own errors.",
  examples: [["nsbox rm web", "its log is gone too"]],
};

/** `nsbox gc`. */
export const GC: CommandDef = {
  name: "gc",
  usage: "nsbox gc [--json]",
  summary: "clean up after sandboxes whose nsbox was killed",
  description: "Removes the records of sandboxes that are gone (their nsbox and PID 1 were killed, e.g. with\n" +
    "SIGKILL), and first ends what such a sandbox left running: a network helper, or the processes of a\n" +
    "--share pid sandbox. Only records that pass authentication are acted on, and only processes checked\n" +
    "on their own terms (start time, name, namespaces); never a pid a record merely names. Every other\n" +
    "nsbox command does the same on the way; gc does it explicitly and says what it did.",
  flags: [JSON_FLAG, HELP_FLAG],
  interleaved: true,
  exits: "Exit status: 0 (also when there was nothing to clean up); 125 for nsbox's own errors (a bad flag,\n" +
    "an unusable record directory).",
  examples: [
    ["nsbox gc", "one line per record removed and per process ended"],
    ["nsbox gc --json", "the same as JSON: [{name, ended: [...]}]"],
  ],
};

/** `nsbox completions`. */
export const COMPLETIONS: CommandDef = {
  name: "completions",
  operands: { choices: ["bash", "zsh", "fish"] },
  usage: "nsbox completions bash|zsh|fish",
  summary: "print a shell completion script",
  description: "Prints a completion script for bash, zsh or fish on stdout: commands, flags, flag values\n" +
    "(namespaces, network modes, signals, capabilities, paths), commands after `--` and the names of\n" +
    "your sandboxes.",
  flags: [HELP_FLAG],
  interleaved: true,
  exits: "Exit status: 0; 125 for an unknown shell or a bad flag.",
  examples: [
    ["source <(nsbox completions bash)", "complete nsbox in the current bash (add it to ~/.bashrc)"],
    ["nsbox completions bash > ~/.local/share/bash-completion/completions/nsbox", "install for bash"],
    ["nsbox completions zsh > ~/.zfunc/_nsbox", "install for zsh (with fpath+=(~/.zfunc) before compinit)"],
    ["nsbox completions fish > ~/.config/fish/completions/nsbox.fish", "install for fish"],
  ],
};

/** `nsbox profile`. */
export const PROFILE: CommandDef = {
  name: "profile",
  operands: { choices: ["list", "show"] },
  usage: "nsbox profile list | show NAME|FILE",
  summary: "list profiles, or show what one does",
  description: "`list` prints the built-in profiles and yours (NAME.json in $XDG_CONFIG_HOME/nsbox/profiles,\n" +
    "default ~/.config/nsbox/profiles). `show NAME` prints the flags of nsbox run that do what\n" +
    "`--profile NAME` does, here (built-in profiles depend on the current directory).",
  flags: [HELP_FLAG],
  interleaved: true,
  exits: "Exit status: 0; 125 for an unknown or bad profile, a bad subcommand or flag.",
  examples: [
    ["nsbox profile list", "built-in and your profiles"],
    ["nsbox profile show untrusted", "the flags --profile untrusted stands for, in this directory"],
  ],
};

/** `nsbox doctor`. */
export const DOCTOR: CommandDef = {
  name: "doctor",
  usage: "nsbox doctor [--json]",
  summary: "check what nsbox needs on this host",
  description: "Checks what nsbox needs on this host, one line each, and says what to change: user\n" +
    "namespaces, cgroup v2 and delegated controllers, the user bus, pasta and slirp4netns, /dev/net/tun,\n" +
    "subordinate ids, seccomp, Landlock, the kernel, and whether nsbox runs inside a container. Last it\n" +
    "runs `true` in a default sandbox. Exits 0 when that works, 1 when it does not.",
  flags: [
    { name: "json", group: "Output", help: "print the report as JSON: {ok, checks: [{name, status, message, hint}]}" },
    HELP_FLAG,
  ],
  exits: "Exit status: 0 when a default `nsbox run` works on this host; 1 when it does not (the FAIL lines say\n" +
    "why); 125 for a bad flag.",
  examples: [["nsbox doctor", "ok, warn or FAIL, one check a line"], [
    "nsbox doctor --json | jq '.checks[] | select(.status != \"ok\")'",
    "what needs attention",
  ]],
};

/** Every subcommand. */
export const COMMANDS: readonly CommandDef[] = [RUN, PS, EXEC, KILL, LOGS, RM, GC, PROFILE, DOCTOR, COMPLETIONS];

//! `lvsadm`'s command line: ipvsadm's commands and options, parsed into a
//! [`Command`], with ipvsadm's error messages and exit codes.
//!
//! Why two layers: the rule commands (`-A -E -D -a -e -d -C -Z --set`) are
//! exactly the lines of an `ipvsadm -S -n` file, and lvs-core already reads
//! those ([`lvs_core::config::parse_args`]); one parser for both keeps a
//! rules file and a live `lvsadm` command meaning the same thing. This module
//! adds what only a command line has: the listing, save, restore and help
//! commands with their options, short options bundled ipvsadm's way
//! (`-Ln`, `-Lnc`), ipvsadm's rules about which option goes with which
//! command (its `commands_v_options` table), and its messages.
//!
//! Both ends run this parser: `lvsadm` to fail early without a director, and
//! the director on every request, because the client is never trusted.
//!
//! Exit codes are ipvsadm's: 2 for a malformed command (its `fail(2, ...)`),
//! 255 for an option the parser does not know or a missing value (popt's
//! error path returns -1), and, at execution, 255 for a refused change and 1
//! for listing a service that does not exist.

use std::fmt;

use lvs_core::Protocol;
use lvs_core::ServiceKey;
use lvs_core::config::listing::ListFormat;
use lvs_core::config::{self, ConfigErrorKind};

/// Exit code of a malformed command (ipvsadm's `fail(2, ...)`).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of an unknown option and of a refused change (ipvsadm returns
/// -1 from `main`).
pub const EXIT_FAILURE: u8 = 255;
/// Exit code of listing a service that does not exist (ipvsadm's
/// `list_service`).
pub const EXIT_LIST: u8 = 1;

/// What a listing (`-L`) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    /// One service (`-L -t ...`), or all.
    pub service: Option<ServiceKey>,
    /// `--stats`, `--rate`, `--thresholds`, `--persistent-conn` or plain.
    pub format: ListFormat,
    /// `--exact`.
    pub exact: bool,
    /// `--nosort`.
    pub nosort: bool,
}

/// One `lvsadm` command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// A change: `-A -E -D -a -e -d -C -Z --set`.
    Rule(config::Command),
    /// `-L`/`-l` (with `-n`, always numeric), one of its formats.
    List(ListRequest),
    /// `-L -c`: the connection entries.
    Connections,
    /// `-L --timeout`: the `--set` timeouts.
    Timeouts,
    /// `-S`: the live rules in `-S -n` form.
    Save,
    /// `-R`: rule lines (parsed from the request's input), applied in order.
    Restore(Vec<(usize, config::Command)>),
    /// `--summary` (an lvs-rs extension): table occupancy, drops and the
    /// health of every real server.
    Summary,
    /// `-h`/`--help`.
    Help,
    /// `-v`/`--version`.
    Version,
}

impl Command {
    /// Whether the command may change services, real servers or timeouts
    /// (the embedder then refreshes what it derives from the rules, such as
    /// health-check targets).
    pub fn is_change(&self) -> bool {
        matches!(self, Command::Rule(_) | Command::Restore(_))
    }
}

/// A command that cannot run: the message (without newline) and the exit
/// code ipvsadm would use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    /// ipvsadm's exit code.
    pub code: u8,
    /// The message for standard error.
    pub message: String,
}

impl CommandError {
    fn usage(message: impl Into<String>) -> CommandError {
        CommandError {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    fn failure(message: impl Into<String>) -> CommandError {
        CommandError {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// The hint ipvsadm prints when no command was given.
pub const TRY_HELP: &str = "Try `lvsadm -h' or 'lvsadm --help' for more information.";

/// Options that are not rule options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meta {
    List,
    Save,
    Restore,
    Summary,
    Help,
    Version,
    Numeric,
    Connection,
    Timeout,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
}

const META: &[(Meta, &str, &str)] = &[
    (Meta::List, "-L", "--list"),
    (Meta::List, "-l", ""),
    (Meta::Save, "-S", "--save"),
    (Meta::Restore, "-R", "--restore"),
    (Meta::Summary, "", "--summary"),
    (Meta::Help, "-h", "--help"),
    (Meta::Version, "-v", "--version"),
    (Meta::Numeric, "-n", "--numeric"),
    (Meta::Connection, "-c", "--connection"),
    (Meta::Timeout, "", "--timeout"),
    (Meta::Stats, "", "--stats"),
    (Meta::Rate, "", "--rate"),
    (Meta::Thresholds, "", "--thresholds"),
    (Meta::PersistentConn, "", "--persistent-conn"),
    (Meta::NoSort, "", "--nosort"),
    (Meta::Sort, "", "--sort"),
    (Meta::Exact, "-X", "--exact"),
];

/// ipvsadm's names of the meta options in its messages.
fn meta_name(m: Meta) -> &'static str {
    match m {
        Meta::Numeric => "numeric",
        Meta::Connection => "connection",
        Meta::Timeout => "timeout",
        Meta::Stats => "stats",
        Meta::Rate => "rate",
        Meta::Thresholds => "thresholds",
        Meta::PersistentConn => "persistent-conn",
        Meta::NoSort => "nosort",
        Meta::Sort => "sort",
        Meta::Exact => "exact",
        _ => "",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    Flag,
    Value,
    Optional,
    Three,
}

/// The rule options: (short, long, arity, ipvsadm's name; commands have none).
const RULE: &[(&str, &str, Arity, &str)] = &[
    ("-A", "--add-service", Arity::Flag, ""),
    ("-E", "--edit-service", Arity::Flag, ""),
    ("-D", "--delete-service", Arity::Flag, ""),
    ("-a", "--add-server", Arity::Flag, ""),
    ("-e", "--edit-server", Arity::Flag, ""),
    ("-d", "--delete-server", Arity::Flag, ""),
    ("-C", "--clear", Arity::Flag, ""),
    ("-Z", "--zero", Arity::Flag, ""),
    ("", "--set", Arity::Three, ""),
    ("-t", "--tcp-service", Arity::Value, "service-address"),
    ("-u", "--udp-service", Arity::Value, "service-address"),
    ("", "--sctp-service", Arity::Value, "service-address"),
    ("-f", "--fwmark-service", Arity::Value, "service-address"),
    ("-6", "--ipv6", Arity::Flag, "ipv6"),
    ("-s", "--scheduler", Arity::Value, "scheduler"),
    ("-p", "--persistent", Arity::Optional, "persistent"),
    ("-M", "--netmask", Arity::Value, "netmask"),
    ("-o", "--ops", Arity::Flag, "ops"),
    ("-b", "--sched-flags", Arity::Value, "sched-flags"),
    ("-r", "--real-server", Arity::Value, "real-server"),
    ("-m", "--masquerading", Arity::Flag, "forwarding-method"),
    ("-i", "--ipip", Arity::Flag, "forwarding-method"),
    ("-g", "--gatewaying", Arity::Flag, "forwarding-method"),
    ("-w", "--weight", Arity::Value, "weight"),
    ("-x", "--u-threshold", Arity::Value, "u-threshold"),
    ("-y", "--l-threshold", Arity::Value, "l-threshold"),
    ("", "--tun-type", Arity::Value, "tun-type"),
    ("", "--tun-port", Arity::Value, "tun-port"),
    ("", "--tun-nocsum", Arity::Flag, "tun-nocsum"),
    ("", "--tun-csum", Arity::Flag, "tun-csum"),
    ("", "--tun-remcsum", Arity::Flag, "tun-remcsum"),
];

const RULE_COMMANDS: usize = 9;

/// One row of [`RULE`].
type RuleRow = (&'static str, &'static str, Arity, &'static str);

fn rule_entry(token: &str) -> Option<(usize, &'static RuleRow)> {
    RULE.iter()
        .enumerate()
        .find(|(_, e)| (!e.0.is_empty() && e.0 == token) || e.1 == token)
}

fn meta_entry(token: &str) -> Option<Meta> {
    META.iter()
        .find(|e| (!e.1.is_empty() && e.1 == token) || (!e.2.is_empty() && e.2 == token))
        .map(|e| e.0)
}

/// ipvsadm's name of a rule option as lvs-core spells it in errors.
fn rule_name(core_name: &str) -> &'static str {
    RULE.iter()
        .find(|e| e.0 == core_name || e.1 == core_name)
        .map(|e| if e.3.is_empty() { "command" } else { e.3 })
        .unwrap_or("option")
}

/// ipvsadm's command names.
fn command_name(cmd: &str) -> &'static str {
    match cmd {
        "-A" => "add-service",
        "-E" => "edit-service",
        "-D" => "delete-service",
        "-C" => "flush",
        "-a" => "add-server",
        "-d" => "delete-server",
        "-e" => "edit-server",
        "--set" => "set",
        "-Z" => "zero",
        _ => "?",
    }
}

/// The argv split into meta options, rule arguments and the command.
#[derive(Default)]
struct Split {
    /// The command: a rule command's short name, or a meta command.
    rule_cmd: Option<&'static str>,
    meta_cmd: Option<Meta>,
    /// Meta options in order (commands excluded).
    meta: Vec<Meta>,
    /// Rule arguments in lvs-core's spelling (values inline for one-value
    /// options, so a value starting with `-` reaches the value checks).
    rule: Vec<String>,
    /// Service and real-server arguments, for telling errors apart.
    service: Vec<String>,
    real_server: Option<String>,
    u_threshold: Option<String>,
}

fn set_command(
    split: &mut Split,
    rule: Option<&'static str>,
    meta: Option<Meta>,
) -> Result<(), CommandError> {
    if split.rule_cmd.is_some() || split.meta_cmd.is_some() {
        return Err(CommandError::usage("multiple commands specified"));
    }
    split.rule_cmd = rule;
    split.meta_cmd = meta;
    Ok(())
}

/// Expand `-Ln` into `-L -n`, `-w3` into `-w 3`; other tokens as they are.
fn expand(args: &[&str]) -> Result<Vec<String>, CommandError> {
    let mut out = Vec::with_capacity(args.len());
    for &a in args {
        let bundled = a.len() > 2
            && a.starts_with('-')
            && !a.starts_with("--")
            && meta_entry(a).is_none()
            && rule_entry(a).is_none();
        // A negative number is a value, not a bundle.
        if !bundled || a[1..].bytes().all(|b| b.is_ascii_digit()) {
            out.push(a.to_string());
            continue;
        }
        for (i, c) in a[1..].char_indices() {
            let opt = format!("-{c}");
            if meta_entry(&opt).is_some() {
                out.push(opt);
                continue;
            }
            match rule_entry(&opt) {
                Some((_, e)) if e.2 == Arity::Flag => out.push(opt),
                Some(_) => {
                    out.push(opt);
                    let rest = &a[1 + i + c.len_utf8()..];
                    if !rest.is_empty() {
                        out.push(rest.to_string());
                    }
                    break;
                }
                None => {
                    return Err(CommandError::failure(format!("{a}: unknown option")));
                }
            }
        }
    }
    Ok(out)
}

fn looks_negative(s: &str) -> bool {
    s.len() > 1 && s.starts_with('-') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

fn split(args: &[&str]) -> Result<Split, CommandError> {
    let tokens = expand(args)?;
    let mut s = Split::default();
    let mut it = tokens.iter().map(String::as_str).peekable();
    while let Some(tok) = it.next() {
        let (key, inline) = match tok.strip_prefix("--").and_then(|t| t.split_once('=')) {
            Some((k, v)) => (&tok[..k.len() + 2], Some(v)),
            None => (tok, None),
        };
        if let Some(m) = meta_entry(key) {
            if inline.is_some() {
                return Err(CommandError::usage(format!("unexpected argument {tok}")));
            }
            match m {
                Meta::List
                | Meta::Save
                | Meta::Restore
                | Meta::Summary
                | Meta::Help
                | Meta::Version => {
                    set_command(&mut s, None, Some(m))?;
                }
                _ => {
                    if s.meta.contains(&m) {
                        return Err(CommandError::usage(format!(
                            "multiple '{}' options specified",
                            meta_name(m)
                        )));
                    }
                    s.meta.push(m);
                }
            }
            continue;
        }
        let Some((idx, e)) = rule_entry(key) else {
            return Err(if tok.starts_with('-') {
                CommandError::failure(format!("{key}: unknown option"))
            } else {
                CommandError::usage(format!("unexpected argument {tok}"))
            });
        };
        let long = e.1;
        if idx < RULE_COMMANDS {
            set_command(&mut s, Some(if e.0.is_empty() { e.1 } else { e.0 }), None)?;
        }
        match e.2 {
            Arity::Flag => {
                if inline.is_some() {
                    return Err(CommandError::usage(format!("unexpected argument {tok}")));
                }
                s.rule.push(long.to_string());
                if key == "-6" || key == "--ipv6" {
                    s.service.push(long.to_string());
                }
            }
            Arity::Value => {
                let v = match inline {
                    Some(v) => v,
                    None => match it.peek() {
                        Some(v) if !v.starts_with('-') || looks_negative(v) => {
                            it.next().unwrap_or("")
                        }
                        _ => {
                            return Err(CommandError::failure(format!("{key}: missing argument")));
                        }
                    },
                };
                let arg = format!("{long}={v}");
                match long {
                    "--tcp-service" | "--udp-service" | "--sctp-service" | "--fwmark-service" => {
                        s.service.push(arg.clone());
                    }
                    "--real-server" => s.real_server = Some(v.to_string()),
                    "--u-threshold" => s.u_threshold = Some(v.to_string()),
                    _ => {}
                }
                s.rule.push(arg);
            }
            Arity::Optional => match inline {
                Some(v) => s.rule.push(format!("{long}={v}")),
                None => match it.next_if(|v| !v.starts_with('-')) {
                    Some(v) => s.rule.push(format!("{long}={v}")),
                    None => s.rule.push(long.to_string()),
                },
            },
            Arity::Three => {
                if inline.is_some() {
                    return Err(CommandError::usage(format!("unexpected argument {tok}")));
                }
                s.rule.push(long.to_string());
                for _ in 0..3 {
                    match it.next_if(|v| !v.starts_with('-') || looks_negative(v)) {
                        Some(v) if looks_negative(v) => {
                            return Err(CommandError::usage(format!(
                                "invalid timeout value `{v}' specified"
                            )));
                        }
                        Some(v) => s.rule.push(v.to_string()),
                        None => {
                            return Err(CommandError::usage(
                                "--set option requires 3 timeout values",
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(s)
}

/// Map an lvs-core rule error to ipvsadm's message and exit code. `cmd` is
/// the rule command's short name; `s` the split argv (to tell the service
/// address from the real server's).
fn rule_error(kind: ConfigErrorKind, cmd: &str, s: &Split) -> CommandError {
    use ConfigErrorKind as K;
    let service_ok = || {
        let mut args = vec!["-Z".to_string()];
        args.extend(s.service.iter().cloned());
        config::parse_args(args.iter().map(String::as_str)).is_ok()
    };
    let is_v6_service = || {
        let mut args = vec!["-Z".to_string()];
        args.extend(s.service.iter().cloned());
        matches!(
            config::parse_args(args.iter().map(String::as_str)),
            Ok(Some(config::Command::Zero(Some(k)))) if k.family() == lvs_core::Family::V6
        )
    };
    match kind {
        K::UnknownOption(o) => CommandError::failure(format!("{o}: unknown option")),
        K::UnexpectedArgument(a) => CommandError::usage(format!("unexpected argument {a}")),
        K::MissingCommand => CommandError::failure(TRY_HELP),
        K::MissingValue("--set") => CommandError::usage("--set option requires 3 timeout values"),
        K::MissingValue(o) => CommandError::failure(format!("{o}: missing argument")),
        K::DuplicateOption(o) => {
            CommandError::usage(format!("multiple '{}' options specified", rule_name(o)))
        }
        K::ConflictingOptions(a, b) => {
            let (na, nb) = (rule_name(a), rule_name(b));
            if na == "command" && nb == "command" {
                CommandError::usage("multiple commands specified")
            } else if na == nb {
                CommandError::usage(format!("multiple '{na}' options specified"))
            } else {
                CommandError::usage(format!(
                    "The option '{nb}' conflicts with the '{na}' option"
                ))
            }
        }
        K::OptionNotAllowed(o) => CommandError::usage(format!(
            "Illegal '{}' option with the '{}' command",
            rule_name(o),
            command_name(cmd)
        )),
        K::MissingService => CommandError::usage(format!(
            "You need to supply the 'service-address' option for the '{}' command",
            command_name(cmd)
        )),
        K::MissingRealServer => CommandError::usage(format!(
            "You need to supply the 'real-server' option for the '{}' command",
            command_name(cmd)
        )),
        K::BadAddress(_) | K::BadPort(_) => {
            if s.real_server.is_some() && service_ok() {
                CommandError::usage("illegal real server address[:port] specified")
            } else {
                CommandError::usage("illegal virtual server address[:port] specified")
            }
        }
        K::BadFwmark(v) => CommandError::usage(format!("invalid fwmark value `{v}' specified")),
        // ipvsadm hands any name to the kernel, which has no such module.
        K::BadScheduler(_) | K::UnknownScheduler(_) => {
            CommandError::failure("Scheduler or persistence engine not found")
        }
        K::BadPersistence(v) | K::BadTimeout(v) => {
            CommandError::usage(format!("invalid timeout value `{v}' specified"))
        }
        K::BadNetmask(_) => {
            if is_v6_service() {
                CommandError::usage("illegal ipv6 netmask specified")
            } else {
                CommandError::usage("illegal virtual server persistent mask specified")
            }
        }
        K::ZeroPortNotPersistent => {
            CommandError::usage("Zero port specified for non-persistent service")
        }
        K::BadWeight(_) => CommandError::usage("illegal weight specified"),
        K::BadThreshold(v) => {
            if s.u_threshold.as_deref() == Some(v.as_str()) && !v.is_truncated() {
                CommandError::usage("illegal u_threshold specified")
            } else {
                CommandError::usage("illegal l_threshold specified")
            }
        }
        // The kernel refuses it with ERANGE.
        K::ThresholdOrder { .. } => CommandError::failure("Numerical result out of range"),
        other => CommandError::usage(other.to_string()),
    }
}

/// Parse one rule command from split arguments.
fn parse_rule(cmd: &'static str, s: &Split) -> Result<config::Command, CommandError> {
    if let Some(m) = s.meta.iter().find(|m| **m != Meta::Sort) {
        return Err(CommandError::usage(format!(
            "Illegal '{}' option with the '{}' command",
            meta_name(*m),
            command_name(cmd)
        )));
    }
    let parsed =
        config::parse_args(s.rule.iter().map(String::as_str)).map_err(|k| rule_error(k, cmd, s))?;
    let Some(rule) = parsed else {
        return Err(CommandError::failure(TRY_HELP));
    };
    if let config::Command::AddService(c) | config::Command::EditService(c) = &rule
        && c.one_packet
        && matches!(c.key, ServiceKey::Addr { protocol, .. } if protocol != Protocol::Udp)
    {
        return Err(CommandError::usage(
            "One-Packet Scheduling is only for UDP virtual services",
        ));
    }
    Ok(rule)
}

fn only_meta(s: &Split, allowed: &[Meta], cmd: &str) -> Result<(), CommandError> {
    if let Some(m) = s
        .meta
        .iter()
        .find(|m| !allowed.contains(m) && **m != Meta::Sort)
    {
        return Err(CommandError::usage(format!(
            "Illegal '{}' option with the '{cmd}' command",
            meta_name(*m)
        )));
    }
    if let Some(r) = s.rule.first() {
        let key = r.split_once('=').map_or(r.as_str(), |(k, _)| k);
        return Err(CommandError::usage(format!(
            "Illegal '{}' option with the '{cmd}' command",
            rule_name(key)
        )));
    }
    Ok(())
}

fn parse_list(s: &Split) -> Result<Command, CommandError> {
    let has = |m| s.meta.contains(&m);
    // The service is the only rule option a listing takes.
    let mut service = None;
    if !s.service.is_empty() {
        if let Some(r) = s
            .rule
            .iter()
            .find(|r| !s.service.contains(r) && r.as_str() != "--ipv6")
        {
            let key = r.split_once('=').map_or(r.as_str(), |(k, _)| k);
            return Err(CommandError::usage(format!(
                "Illegal '{}' option with the 'list' command",
                rule_name(key)
            )));
        }
        let mut args = vec!["-Z".to_string()];
        args.extend(s.service.iter().cloned());
        match config::parse_args(args.iter().map(String::as_str))
            .map_err(|k| rule_error(k, "-Z", s))?
        {
            Some(config::Command::Zero(Some(k))) => service = Some(k),
            _ => return Err(CommandError::failure(TRY_HELP)),
        }
    } else if let Some(r) = s.rule.first() {
        let key = r.split_once('=').map_or(r.as_str(), |(k, _)| k);
        return Err(CommandError::usage(format!(
            "Illegal '{}' option with the 'list' command",
            rule_name(key)
        )));
    }
    // ipvsadm's '1' column: -c, a service and --timeout exclude each other.
    let mut exclusive: Vec<&str> = Vec::new();
    if has(Meta::Connection) {
        exclusive.push("connection");
    }
    if service.is_some() {
        exclusive.push("service-address");
    }
    if has(Meta::Timeout) {
        exclusive.push("timeout");
    }
    if exclusive.len() > 1 {
        return Err(CommandError::usage(format!(
            "The option '{}' conflicts with the '{}' option in the 'list' command",
            exclusive[1], exclusive[0]
        )));
    }
    let formats = [Meta::Stats, Meta::Rate, Meta::Thresholds];
    if ((has(Meta::Connection) || has(Meta::Timeout)) && formats.iter().any(|m| has(*m)))
        || (has(Meta::Timeout) && has(Meta::PersistentConn))
    {
        return Err(CommandError::usage("options conflicts in the list command"));
    }
    if has(Meta::Connection) {
        return Ok(Command::Connections);
    }
    if has(Meta::Timeout) {
        return Ok(Command::Timeouts);
    }
    // ipvsadm's print_title picks the first of these that is set.
    let format = if has(Meta::Stats) {
        ListFormat::Stats
    } else if has(Meta::Rate) {
        ListFormat::Rate
    } else if has(Meta::Thresholds) {
        ListFormat::Thresholds
    } else if has(Meta::PersistentConn) {
        ListFormat::PersistentConn
    } else {
        ListFormat::Plain
    };
    Ok(Command::List(ListRequest {
        service,
        format,
        exact: has(Meta::Exact),
        nosort: has(Meta::NoSort),
    }))
}

/// Parse `-R` input: every non-blank, non-comment line must be a rule
/// command. Errors name the 1-based line.
pub fn parse_restore(input: &str) -> Result<Vec<(usize, config::Command)>, CommandError> {
    let mut out = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let words: Vec<&str> = line
            .split_ascii_whitespace()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        if words.is_empty() {
            continue;
        }
        let at = |e: CommandError| CommandError {
            code: e.code,
            message: format!("line {}: {}", i + 1, e.message),
        };
        let s = split(&words).map_err(at)?;
        let Some(cmd) = s.rule_cmd else {
            return Err(at(CommandError::usage(
                "only -A, -E, -D, -a, -e, -d, -C, -Z and --set lines can be restored",
            )));
        };
        out.push((i + 1, parse_rule(cmd, &s).map_err(at)?));
    }
    Ok(out)
}

/// Parse `lvsadm`'s arguments (without the program name and `--control`)
/// and, for `-R`, its input. No arguments lists the table, as ipvsadm does.
pub fn parse_command<S: AsRef<str>>(args: &[S], input: &str) -> Result<Command, CommandError> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    if args.is_empty() {
        return Ok(Command::List(ListRequest {
            service: None,
            format: ListFormat::Plain,
            exact: false,
            nosort: false,
        }));
    }
    let s = split(&args)?;
    if let Some(cmd) = s.rule_cmd {
        return parse_rule(cmd, &s).map(Command::Rule);
    }
    match s.meta_cmd {
        Some(Meta::List) => parse_list(&s),
        Some(Meta::Save) => {
            only_meta(&s, &[Meta::Numeric], "save")?;
            Ok(Command::Save)
        }
        Some(Meta::Restore) => {
            only_meta(&s, &[], "restore")?;
            parse_restore(input).map(Command::Restore)
        }
        Some(Meta::Summary) => {
            only_meta(&s, &[Meta::Numeric], "summary")?;
            Ok(Command::Summary)
        }
        Some(Meta::Help) => Ok(Command::Help),
        Some(Meta::Version) => Ok(Command::Version),
        _ => Err(CommandError::failure(TRY_HELP)),
    }
}

/// `lvsadm --version`.
pub fn version_text() -> String {
    format!(
        "lvsadm {} (lvs-rs; the command set of ipvsadm v1.31)\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `lvsadm --help`.
pub const USAGE: &str = "\
lvsadm: ipvsadm's command line for a running lvs-rs director
Usage:
  lvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  lvsadm -D virtual-service
  lvsadm -C
  lvsadm -R
  lvsadm -S [-n]
  lvsadm -a|e virtual-service -r server-address [options]
  lvsadm -d virtual-service -r server-address
  lvsadm -L|l [virtual-service] [options]
  lvsadm -Z [virtual-service]
  lvsadm --set tcp tcpfin udp
  lvsadm --summary
  lvsadm -h

Every command may take --control PATH: the director's control socket
(default /run/lvs-rs/control.sock).

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --summary                   table occupancy, drops and real-server health
  --help            -h        display this help message
  --version         -v        display the version

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,
                                      the default scheduler is wlc.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type     type                 one of ipip|gue|gre, the default tunnel type is ipip.
  --tun-port     port                 tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports (always on)
  --sched-flags  -b flags             scheduler flags (comma-separated)
";

#[cfg(test)]
mod tests;

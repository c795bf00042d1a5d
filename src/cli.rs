//! The command line: `sightline serve | screens | snapshot | mcp | device`. Every failure is one clear line on stderr and
//! a non-zero exit code, never a panic.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sightline_media::{MediaError, SourceSelection};

use crate::config::{Config, Overrides};
use crate::server::open_desktop;

/// Watch and drive a computer's screens from a browser, a phone or an MCP client.
#[derive(Debug, Parser)]
#[command(name = "sightline", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// TOML configuration file (see sightline.example.toml). Without one, every default applies.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides [server] listen).
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Screen source: auto, x11, xcap or synthetic (overrides [capture] source).
    #[arg(long, global = true, value_parser = parse_source)]
    source: Option<SourceSelection>,
    /// X11 display, e.g. :0 (overrides [capture] display).
    #[arg(long, global = true)]
    display: Option<String>,
    /// Capture frame rate (overrides [capture] fps).
    #[arg(long, global = true)]
    fps: Option<u32>,
    /// H.264 bitrate in kbit/s (overrides [video] bitrate_kbps).
    #[arg(long, global = true)]
    bitrate_kbps: Option<u32>,
    /// Directory for the monitor's JSON logs (overrides [monitor] log_dir).
    #[arg(long, global = true, value_name = "DIR")]
    log_dir: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// List the screens: one line per screen with id, name, size and source.
    Screens,
    /// Capture one screen to a PNG or JPEG file (by the file's extension).
    Snapshot {
        /// Screen id (see `sightline screens`).
        #[arg(long, default_value = "0")]
        screen: String,
        /// Output file: .png, .jpg or .jpeg.
        #[arg(long, short)]
        output: PathBuf,
        /// JPEG quality 1-100.
        #[arg(long, default_value_t = 90)]
        quality: u8,
    },
    /// Serve MCP over stdio while running the whole gateway in this process (for desktop MCP clients).
    Mcp,
    /// Run as a device: dial out to a hub and serve this machine's screens there. Listens on nothing unless
    /// [hub] local_server = true.
    Device {
        /// The hub's URL: ws://host:port, wss://host[:port] (http/https also accepted; a path prefix is kept).
        /// Overrides [hub] url.
        #[arg(long, value_name = "URL")]
        hub: Option<String>,
        /// The device token (one of the hub's [auth] devices). Overrides SIGHTLINE_DEVICE_TOKEN and [hub] token;
        /// prefer the variable, which other users cannot read in the process list.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// The name the hub shows for this device (overrides [hub] name; default: the host name).
        #[arg(long)]
        name: Option<String>,
    },
}

/// The environment variable that carries the device token.
pub const DEVICE_TOKEN_ENV: &str = "SIGHTLINE_DEVICE_TOKEN";

/// Applies `sightline device`'s flags (then `SIGHTLINE_DEVICE_TOKEN`, `env_token`) over `[hub]` and checks that
/// the device has a hub to dial and a token to show it.
fn device_config(
    mut config: Config,
    hub: Option<String>,
    token: Option<String>,
    name: Option<String>,
    env_token: Option<String>,
) -> anyhow::Result<Config> {
    if let Some(url) = hub {
        config.hub.url = url;
    }
    if let Some(t) = token.or(env_token.filter(|t| !t.is_empty())) {
        config.hub.token = t;
    }
    if let Some(n) = name {
        config.hub.name = n;
    }
    if config.hub.url.is_empty() {
        anyhow::bail!("no hub to dial: give --hub URL or set [hub] url");
    }
    if config.hub.token.is_empty() {
        anyhow::bail!("no device token: give --token, set {DEVICE_TOKEN_ENV} or set [hub] token");
    }
    config
        .hub
        .validate()
        .map_err(|e| anyhow::anyhow!("{e} (--hub / --token / --name override [hub])"))?;
    Ok(config)
}

fn parse_source(s: &str) -> Result<SourceSelection, String> {
    match s {
        "auto" => Ok(SourceSelection::Auto),
        "x11" => Ok(SourceSelection::X11),
        "xcap" => Ok(SourceSelection::Xcap),
        "synthetic" => Ok(SourceSelection::Synthetic),
        other => Err(format!(
            "{other:?} is not one of auto, x11, xcap, synthetic"
        )),
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and succeed.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sightline: {} (see sightline --help)", clap_error_line(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sightline: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// clap's message without its `error:` prefix, usage block and tips, on one line.
fn clap_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

fn one_line(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
    }
    s.replace('\n', " ")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    let overrides = Overrides {
        listen: g.listen.clone(),
        source: g.source,
        display: g.display.clone(),
        fps: g.fps,
        bitrate_kbps: g.bitrate_kbps,
        log_dir: g.log_dir.clone(),
    };
    let config = Config::load(g.config.as_deref(), &overrides)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            crate::telemetry::init(false);
            runtime()?.block_on(crate::server::serve(config, crate::server::Mode::Http))
        }
        Command::Mcp => {
            // stdout carries the MCP protocol: every log line goes to stderr.
            crate::telemetry::init(true);
            runtime()?.block_on(crate::server::serve(config, crate::server::Mode::Stdio))
        }
        Command::Device { hub, token, name } => {
            let env_token = std::env::var(DEVICE_TOKEN_ENV).ok();
            let config = device_config(config, hub, token, name, env_token)?;
            crate::telemetry::init(false);
            runtime()?.block_on(crate::server::serve(config, crate::server::Mode::Device))
        }
        Command::Screens => {
            crate::telemetry::init(true);
            let desktop = open_desktop(&config)?;
            let mut out = std::io::stdout().lock();
            for s in desktop.screens().map_err(media)? {
                let line = writeln!(
                    out,
                    "{}\t{}\t{}x{}\t{}",
                    s.id, s.name, s.width, s.height, s.source
                );
                match line {
                    Ok(()) => {}
                    // A reader that has gone (`sightline screens | head -1`) is not an error.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    Err(e) => return Err(anyhow::anyhow!("cannot write to stdout: {e}")),
                }
            }
            Ok(())
        }
        Command::Snapshot {
            screen,
            output,
            quality,
        } => {
            crate::telemetry::init(true);
            snapshot(&config, &screen, &output, quality)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// The command line's translation of a media error: the gateway's one message for it.
fn media(e: MediaError) -> anyhow::Error {
    anyhow::anyhow!(crate::control::Error::from(e).message)
}

fn snapshot(
    config: &Config,
    screen: &str,
    output: &std::path::Path,
    quality: u8,
) -> anyhow::Result<()> {
    let format = crate::image::ImageFormat::from_path(output).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the file name must end in .png, .jpg or .jpeg",
            output.display()
        )
    })?;
    if !sightline_limits::JPEG_QUALITY.contains(&u32::from(quality)) {
        anyhow::bail!("--quality must be from 1 to 100");
    }
    let desktop = open_desktop(config)?;
    let mut source = desktop.open(screen).map_err(media)?;
    let frame = source
        .capture(true)
        .map_err(media)?
        .ok_or_else(|| anyhow::anyhow!("screen {screen} returned no frame"))?;
    let bytes = crate::image::encode(&frame, format, quality, None)?;
    std::fs::write(output, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_flags_override_the_file_and_missing_keys_are_named() {
        let mut file = Config::default();
        file.hub.url = "ws://file:1".into();
        file.hub.token = "file-token-1".into();
        let c = device_config(file.clone(), None, None, None, None).unwrap();
        assert_eq!(
            (c.hub.url.as_str(), c.hub.token.as_str()),
            ("ws://file:1", "file-token-1")
        );
        let c = device_config(
            file.clone(),
            Some("wss://flag".into()),
            None,
            Some("kiosk".into()),
            Some("env-token-1".into()),
        )
        .unwrap();
        assert_eq!(c.hub.url, "wss://flag");
        assert_eq!(c.hub.token, "env-token-1");
        assert_eq!(c.hub.name, "kiosk");
        let c = device_config(
            file,
            None,
            Some("flag-token-1".into()),
            None,
            Some("env-token-1".into()),
        )
        .unwrap();
        assert_eq!(c.hub.token, "flag-token-1");

        let e = device_config(
            Config::default(),
            None,
            Some("t0123456789".into()),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--hub") && e.contains("[hub] url"), "{e}");
        let e = device_config(
            Config::default(),
            Some("ws://h:1".into()),
            None,
            None,
            Some(String::new()),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("--token") && e.contains("[hub] token") && e.contains(DEVICE_TOKEN_ENV),
            "{e}"
        );
        let e = device_config(
            Config::default(),
            Some("ftp://h".into()),
            Some("t0123456789".into()),
            None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("hub.url"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}

//! The console's control-socket client (the protocol of docs/control.md): one JSON request line,
//! one JSON response line, over a fresh connection per request (a restarted appliance is
//! picked up without reconnect logic), with timeouts so a stuck server never freezes the screen.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::model::WEIGHT_NAMES;
use crate::score::N_WEIGHTS;

/// Longest response line accepted.
const MAX_REPLY: u64 = 1 << 20;

/// A client of one control socket.
#[derive(Clone, Debug)]
pub struct ControlClient {
    /// Socket path.
    pub path: PathBuf,
    /// Read and write timeout.
    pub timeout: Duration,
}

impl ControlClient {
    /// A client of `path` (2 s timeouts).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            timeout: Duration::from_secs(2),
        }
    }

    /// Sends one request and returns the response object (`ok` not yet checked).
    pub fn request(&self, req: &Value) -> Result<Value, String> {
        let ctx = |e: std::io::Error| format!("control socket {}: {e}", self.path.display());
        let mut s = UnixStream::connect(&self.path).map_err(ctx)?;
        s.set_read_timeout(Some(self.timeout)).map_err(ctx)?;
        s.set_write_timeout(Some(self.timeout)).map_err(ctx)?;
        let mut line = req.to_string();
        line.push('\n');
        s.write_all(line.as_bytes()).map_err(ctx)?;
        let mut reply = String::new();
        let mut r = BufReader::new(s.take(MAX_REPLY));
        r.read_line(&mut reply).map_err(ctx)?;
        if reply.is_empty() {
            return Err(format!(
                "control socket {}: closed without a reply",
                self.path.display()
            ));
        }
        serde_json::from_str(reply.trim_end())
            .map_err(|e| format!("control socket {}: bad reply: {e}", self.path.display()))
    }

    /// `set_weights`: the acknowledged weights and `persisted`.
    pub fn set_weights(
        &self,
        profile: &str,
        weights: &[(&str, f64)],
    ) -> Result<([f64; N_WEIGHTS], bool), String> {
        let mut w = serde_json::Map::new();
        for (n, v) in weights {
            w.insert((*n).to_string(), serde_json::json!(v));
        }
        let req = serde_json::json!({"cmd": "set_weights", "profile": profile, "weights": w});
        parse_set_weights_reply(&self.request(&req)?)
    }

    /// Whether the server answers a `status` request with `ok`.
    pub fn answers(&self) -> bool {
        self.request(&serde_json::json!({"cmd": "status"}))
            .is_ok_and(|v| v.get("ok").and_then(Value::as_bool) == Some(true))
    }
}

/// Parses a `set_weights` reply: `{"ok":true,"profile":{"weights":{..}},"persisted":b}` or
/// `{"ok":false,"error":".."}`.
pub fn parse_set_weights_reply(v: &Value) -> Result<([f64; N_WEIGHTS], bool), String> {
    if v.get("ok").and_then(Value::as_bool) != Some(true) {
        return Err(v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the appliance refused the request without a reason")
            .to_string());
    }
    let ws = v
        .get("profile")
        .and_then(|p| p.get("weights"))
        .and_then(Value::as_object)
        .ok_or("reply without profile.weights")?;
    let mut out = [0.0; N_WEIGHTS];
    for (i, n) in WEIGHT_NAMES.iter().enumerate() {
        out[i] = ws
            .get(*n)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("reply without weight {n}"))?;
    }
    let persisted = v.get("persisted").and_then(Value::as_bool).unwrap_or(false);
    Ok((out, persisted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ack_and_error() {
        let ok: Value = serde_json::from_str(
            r#"{"ok":true,"profile":{"index":1,"name":"Block","active":true,"weights":{"latency":0.1,"fill_rate":0.5,"price_improvement":0.2,"market_impact":0.3,"reject_rate":0.0,"effective_spread":0.0,"markout":0.0}},"persisted":true}"#,
        )
        .unwrap();
        let (w, p) = parse_set_weights_reply(&ok).unwrap();
        assert_eq!(w, [0.1, 0.5, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0]);
        assert!(p);
        let err: Value = serde_json::from_str(r#"{"ok":false,"error":"unknown profile"}"#).unwrap();
        assert_eq!(
            parse_set_weights_reply(&err).unwrap_err(),
            "unknown profile"
        );
        let partial: Value =
            serde_json::from_str(r#"{"ok":true,"profile":{"weights":{"latency":1}}}"#).unwrap();
        assert!(
            parse_set_weights_reply(&partial)
                .unwrap_err()
                .contains("fill_rate")
        );
    }

    #[test]
    fn missing_socket_is_an_error_not_a_panic() {
        let c = ControlClient::new(std::env::temp_dir().join("lpscore-no-such-control.sock"));
        assert!(c.request(&serde_json::json!({"cmd":"status"})).is_err());
        assert!(!c.answers());
    }
}

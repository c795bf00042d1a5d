//! Pure text work of the WHIP client: resolving the resource URL, the ICE restart's SDP fragment
//! (`application/trickle-ice-sdpfrag`, RFC 8840 as RFC 9725 §4.4 uses it), applying the server's fragment to the
//! answer we hold, and a short excerpt of an error body.

/// Most characters of a WHIP server's error body quoted in an error message.
pub const MAX_EXCERPT_CHARS: usize = 200;

/// The resource URL from a `Location` header, resolved against the endpoint URL (RFC 3986 reference
/// resolution for the forms servers send: absolute, scheme-relative, absolute-path and relative-path).
pub fn resolve_location(endpoint: &str, location: &str) -> Result<String, String> {
    let location = location.trim();
    if location.is_empty() {
        return Err("the Location header is empty".into());
    }
    if location
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("the Location header {location:?} is not a URL"));
    }
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| format!("the endpoint {endpoint:?} is not an absolute URL"))?;
    if let Some(tail) = location.strip_prefix("//") {
        return Ok(format!("{scheme}://{tail}"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if location.starts_with('/') {
        return Ok(format!("{scheme}://{authority}{location}"));
    }
    // Relative path: replace the endpoint path's last segment (query and fragment dropped).
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Ok(format!("{scheme}://{authority}{dir}{location}"))
}

/// The value of the first `a=<name>:` line.
fn attr<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    sdp.lines()
        .map(str::trim_end)
        .find_map(|l| l.strip_prefix("a=")?.strip_prefix(name)?.strip_prefix(':'))
}

/// The ICE restart fragment of an offer: its (new) credentials, the media section's mid and its candidates.
pub fn restart_fragment(offer: &str) -> Result<String, String> {
    let ufrag = attr(offer, "ice-ufrag").ok_or("the restart offer has no ice-ufrag")?;
    let pwd = attr(offer, "ice-pwd").ok_or("the restart offer has no ice-pwd")?;
    let mid = attr(offer, "mid").unwrap_or("0");
    let mut frag = String::new();
    if let Some(options) = attr(offer, "ice-options") {
        frag.push_str(&format!("a=ice-options:{options}\r\n"));
    }
    frag.push_str(&format!(
        "a=group:BUNDLE {mid}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n"
    ));
    for line in offer.lines().map(str::trim_end) {
        if line.starts_with("a=candidate:") {
            frag.push_str(line);
            frag.push_str("\r\n");
        }
    }
    frag.push_str("a=end-of-candidates\r\n");
    Ok(frag)
}

/// The answer we hold with the server's restart fragment applied: its new `ice-ufrag`/`ice-pwd` replace the old
/// ones and, when it lists candidates, they replace the old candidates.
pub fn apply_fragment(answer: &str, fragment: &str) -> Result<String, String> {
    let ufrag = attr(fragment, "ice-ufrag").ok_or("the server's fragment has no ice-ufrag")?;
    let pwd = attr(fragment, "ice-pwd").ok_or("the server's fragment has no ice-pwd")?;
    let candidates: Vec<&str> = fragment
        .lines()
        .map(str::trim_end)
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    let mut out = String::with_capacity(answer.len() + fragment.len());
    for line in answer.lines().map(str::trim_end) {
        if line.starts_with("a=ice-ufrag:") {
            out.push_str(&format!("a=ice-ufrag:{ufrag}\r\n"));
        } else if line.starts_with("a=ice-pwd:") {
            out.push_str(&format!("a=ice-pwd:{pwd}\r\n"));
        } else if !candidates.is_empty()
            && (line.starts_with("a=candidate:") || line == "a=end-of-candidates")
        {
            // Replaced by the fragment's, below.
        } else if !line.is_empty() {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    // Our offer has one media section, so the answer's last lines are that section's.
    for c in &candidates {
        out.push_str(c);
        out.push_str("\r\n");
    }
    if !candidates.is_empty() {
        out.push_str("a=end-of-candidates\r\n");
    }
    Ok(out)
}

/// At most [`MAX_EXCERPT_CHARS`] of a response body, on one line, for an error message.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_EXCERPT_CHARS)
        .collect();
    if text.chars().count() > MAX_EXCERPT_CHARS {
        out.push('…');
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_endpoint() {
        let e = "http://h:8080/whip/endpoint?x=1";
        assert_eq!(
            resolve_location(e, "https://o/r/1").unwrap(),
            "https://o/r/1"
        );
        assert_eq!(resolve_location(e, "//o/r").unwrap(), "http://o/r");
        assert_eq!(
            resolve_location(e, "/resource/7").unwrap(),
            "http://h:8080/resource/7"
        );
        assert_eq!(
            resolve_location(e, "res/7").unwrap(),
            "http://h:8080/whip/res/7"
        );
        assert_eq!(resolve_location("http://h", "r").unwrap(), "http://h/r");
        assert!(resolve_location(e, " ").is_err());
        assert!(resolve_location(e, "a b").is_err());
    }

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:NEWU\r\na=ice-pwd:NEWPWDNEWPWDNEWPWDNEWPW\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n";

    #[test]
    fn the_restart_fragment_carries_credentials_mid_and_candidates() {
        let f = restart_fragment(OFFER).unwrap();
        assert!(f.contains("a=mid:0\r\n"));
        assert!(f.contains("a=ice-ufrag:NEWU\r\n"));
        assert!(f.contains("a=ice-pwd:NEWPWDNEWPWDNEWPWDNEWPW\r\n"));
        assert!(f.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n"));
        assert!(f.ends_with("a=end-of-candidates\r\n"));
        assert!(restart_fragment("v=0\r\n").is_err());
    }

    #[test]
    fn the_servers_fragment_replaces_credentials_and_candidates() {
        let answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\na=candidate:9 1 udp 1 10.0.0.1 9 typ host\r\na=end-of-candidates\r\n";
        let frag = "a=ice-ufrag:srv2\r\na=ice-pwd:srvpwd2\r\na=candidate:2 1 udp 5 10.0.0.2 7 typ host\r\n";
        let out = apply_fragment(answer, frag).unwrap();
        assert!(out.contains("a=ice-ufrag:srv2\r\n") && !out.contains("old"));
        assert!(out.contains("a=candidate:2 1 udp 5 10.0.0.2 7 typ host\r\n"));
        assert!(!out.contains("10.0.0.1"));
        assert_eq!(out.matches("a=end-of-candidates").count(), 1);
        // No candidates in the fragment: the old ones stay.
        let out = apply_fragment(answer, "a=ice-ufrag:u\r\na=ice-pwd:p\r\n").unwrap();
        assert!(out.contains("10.0.0.1") && out.contains("a=ice-ufrag:u\r\n"));
        assert!(apply_fragment(answer, "a=ice-pwd:p\r\n").is_err());
    }

    #[test]
    fn excerpts_are_short_and_on_one_line() {
        assert_eq!(excerpt(b"bad\r\ntoken"), "bad  token");
        let long = "x".repeat(500);
        assert_eq!(
            excerpt(long.as_bytes()).chars().count(),
            MAX_EXCERPT_CHARS + 1
        );
    }
}

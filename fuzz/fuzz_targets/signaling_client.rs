//! `/ws` text messages: each line of the input is one message, parsed by the signaling crate and fed to a
//! socket's state machine as the transport loop does (authenticate, watch, answer, candidates, commands), on a
//! clock that passes the authentication deadline part way through.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sightline::control::{Intent, policy};
use sightline::peer::CandidateInit;
use sightline_signaling::{Action, Role, ServerMessage, SocketState, parse_client};

/// Time between two messages: the eighth message arrives after the authentication deadline.
const STEP: Duration = Duration::from_millis(700);

fuzz_target!(|data: &[u8]| {
    // axum hands the loop text frames only, already checked to be UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let start = Instant::now();
    let mut socket = SocketState::new(start, policy::command_role);
    for (i, line) in text.split('\n').enumerate() {
        let now = start + STEP * i as u32;
        if socket.auth_expired(now) {
            break;
        }
        let msg = match parse_client(line) {
            Ok(msg) => msg,
            Err(e) => {
                sightline_fuzz::reply_error(e);
                continue;
            }
        };
        let authenticated = socket.role().is_some();
        let action = socket.on_message(msg, now);
        if !authenticated {
            assert!(
                matches!(
                    action,
                    Action::Authenticate(_) | Action::Pong(_) | Action::Reply(_)
                ),
                "before authentication: {action:?}"
            );
        }
        match action {
            // Tokens pick the role so every role's rules are reached; anything else closes with 4401.
            Action::Authenticate(token) => match token.as_str() {
                "view-token" => socket.authenticated(Role::View),
                "control-token" => socket.authenticated(Role::Control),
                "admin-token" => socket.authenticated(Role::Admin),
                _ => break,
            },
            Action::Pong(id) => {
                let _ = ServerMessage::Pong { id }.to_json();
            }
            Action::StartWatch(w) => socket.watch_started(&w),
            Action::ApplyAnswer(sdp) => {
                sightline_fuzz::remote_description(&sdp);
                for c in socket.answer_applied() {
                    sightline_fuzz::remote_candidate(CandidateInit {
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    });
                }
            }
            Action::AddCandidate(c) => sightline_fuzz::remote_candidate(CandidateInit {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
            }),
            Action::StopWatch => socket.watch_ended(),
            Action::Command { command, .. } => {
                let role = socket.role().expect("commands are authenticated");
                assert!(role.allows(policy::command_role(&command)));
                if let Some(intent) = Intent::from_command(&command) {
                    sightline_fuzz::act(&intent);
                }
            }
            Action::Reply(e) => sightline_fuzz::reply_error(e),
            Action::Pause | Action::Resume | Action::HqFrame { .. } | Action::Nothing => {}
        }
    }
});

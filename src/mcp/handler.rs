//! The MCP server object rmcp drives: one [`SightlineMcp`] per Streamable HTTP session (or per session-less
//! request), one for the stdio session. Tools are methods that parse their arguments and call [`super::tools`];
//! every call goes through [`SightlineMcp::call_tool`], which resolves who is calling, checks the tool's role,
//! records the call in the audit trail and ends it early when the client cancels or an admin kicks the session.

use std::sync::{Arc, OnceLock};

use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, ToolCallContext};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Extensions,
    Implementation, InitializeRequestParams, InitializeResult, ListResourcesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities,
    ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use sightline_signaling::Role;

use super::audit;
use super::error::ToolError;
use super::registration::{Closer, Principal, Registration, STDIO_TOKEN};
use super::resources;
use super::sessions::TokenKey;
use super::sessions::{HttpSessionId, TrackedSessions, remote_of};
use super::tools::{self, Output};
use crate::control::{Action, echo};
use crate::ratelimit::Class;
use crate::session::{Actor, SessionManager};

/// What agents read first (`instructions` of the server info).
const INSTRUCTIONS: &str = "sightline shows and drives this computer's screens; people may be watching them live. \
Call list_screens first. Every coordinate is a whole pixel of the named screen, origin at its top-left corner. \
A screenshot may be scaled or cropped: its text states how image pixels map to screen pixels. After an action, \
use wait_for_change or wait_until_stable before the next screenshot instead of sleeping. Every input you send is \
shown to the people watching and recorded in the gateway's audit trail.";

/// State shared by every handler of one transport: built once, because rmcp makes a handler per session and,
/// for session-less requests, per request.
struct Shared {
    gw: SessionManager,
    tools: ToolRouter<SightlineMcp>,
    /// The bound on resource watchers, gateway-wide.
    resources: resources::Hub,
}

/// How a handler reaches its client, and where its session's registration lives.
#[derive(Clone)]
enum Link {
    /// The stdio session: registered for the life of the process.
    Stdio(Arc<Registration>),
    /// Streamable HTTP: registered at `initialize` (sessions), or per tool call (session-less requests).
    Http {
        sessions: Arc<TrackedSessions>,
        registration: Arc<OnceLock<Registration>>,
    },
}

/// The per-call context tools receive (an rmcp extension).
#[derive(Clone, Debug)]
pub struct CallCtx {
    /// Who acts: the session, its monitor connection, the request's role, `agent: true`.
    pub actor: Actor,
}

/// sightline's MCP server.
#[derive(Clone)]
pub struct SightlineMcp {
    shared: Arc<Shared>,
    link: Link,
    /// This session's legacy resource subscriptions (stopped when rmcp drops the session's handler).
    subscriptions: Arc<resources::Subscriptions>,
}

impl std::fmt::Debug for SightlineMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SightlineMcp").finish_non_exhaustive()
    }
}

pub(super) fn result_of(output: Result<Output, ToolError>) -> CallToolResult {
    match output {
        Ok(o) => {
            let mut content = Vec::with_capacity(2);
            if let Some((data, mime)) = o.image {
                content.push(ContentBlock::image(data, mime));
            }
            content.push(ContentBlock::text(o.text));
            let mut r = CallToolResult::success(content);
            r.structured_content = o.structured;
            r
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
    }
}

#[tool_router]
impl SightlineMcp {
    /// A factory of handlers for the Streamable HTTP service: each gets a fresh registration slot.
    pub(crate) fn http_factory(
        gw: SessionManager,
        sessions: Arc<TrackedSessions>,
    ) -> impl Fn() -> Self + Send + Sync + 'static {
        let shared = Arc::new(Shared {
            gw,
            tools: Self::tool_router() + Self::agent_tool_router() + Self::fleet_tool_router(),
            resources: resources::Hub::default(),
        });
        move || Self {
            shared: Arc::clone(&shared),
            link: Link::Http {
                sessions: Arc::clone(&sessions),
                registration: Arc::new(OnceLock::new()),
            },
            subscriptions: Arc::default(),
        }
    }

    /// The handler of the stdio session.
    pub(crate) fn stdio(gw: SessionManager, registration: Arc<Registration>) -> Self {
        Self {
            shared: Arc::new(Shared {
                gw,
                tools: Self::tool_router() + Self::agent_tool_router() + Self::fleet_tool_router(),
                resources: resources::Hub::default(),
            }),
            link: Link::Stdio(registration),
            subscriptions: Arc::default(),
        }
    }

    pub(super) fn gw(&self) -> &SessionManager {
        &self.shared.gw
    }

    #[tool(
        description = "List the screens: id, name, width and height in pixels, source (x11, xcap or synthetic) and \
                       which one is primary. Other tools take a screen id; without one they use the primary screen.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_screens(&self) -> CallToolResult {
        result_of(tools::list_screens(self.gw()).await)
    }

    #[tool(
        description = "Take a screenshot: the picture viewers see (the live pipeline's latest frame, or one capture). \
                       Returns the image and a text stating the screen size, the image size and how image pixels \
                       map to screen pixels (screen_x = region.x + image_x * scale_x). Large screens are scaled to \
                       at most 1568 px on the long edge unless max_width is given; use region to see a part at full \
                       detail.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn screenshot(
        &self,
        Parameters(args): Parameters<tools::ScreenshotArgs>,
    ) -> CallToolResult {
        result_of(tools::screenshot(self.gw(), args).await)
    }

    #[tool(
        description = "Click at (x, y) in screen pixels: moves the pointer there, then presses and releases the \
                       button (twice with double=true).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn click(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::ClickArgs>,
    ) -> CallToolResult {
        result_of(tools::click(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Move the pointer to (x, y) in screen pixels without clicking (hover).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn move_pointer(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::MoveArgs>,
    ) -> CallToolResult {
        result_of(tools::move_pointer(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Drag with a mouse button held: press at `from`, move to `to` in steps, release. Both points \
                       in screen pixels.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn drag(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::DragArgs>,
    ) -> CallToolResult {
        result_of(tools::drag(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Scroll with the mouse wheel: dy > 0 scrolls down, dx > 0 right, in wheel steps (notches; \
                       about 3 lines each in most applications). With x and y, moves the pointer there first.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn scroll(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::ScrollArgs>,
    ) -> CallToolResult {
        result_of(tools::scroll(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Type text into the focused window, exactly as given (any Unicode, including characters the \
                       keyboard layout lacks). Use press_keys for Enter, Tab, shortcuts.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn type_text(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::TypeTextArgs>,
    ) -> CallToolResult {
        result_of(tools::type_text(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Press a key or a shortcut: keys by DOM KeyboardEvent.code (KeyA, Digit1, Enter, Tab, Escape, \
                       Backspace, ArrowLeft, F5, ControlLeft, ShiftLeft, AltLeft, MetaLeft, ...). All keys are \
                       pressed in order, then released in reverse: [\"ControlLeft\",\"KeyC\"] is Ctrl+C. With \
                       hold_ms they stay down that long first (a key hold), and are released even if the call is \
                       cancelled.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            open_world_hint = false
        )
    )]
    async fn press_keys(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<tools::PressKeysArgs>,
    ) -> CallToolResult {
        if args.hold_ms.is_some() {
            return result_of(super::gestures::hold_keys(self.gw(), &call.actor, args).await);
        }
        result_of(tools::press_keys(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Read the remote desktop's clipboard: its text (or, with image=true, its PNG image), or that \
                       it is empty. selection=primary reads X11's PRIMARY selection (the last text selected). \
                       Needs the role [clipboard] read_role names (control by default).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_clipboard(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<super::clipboard::GetClipboardArgs>,
    ) -> CallToolResult {
        result_of(super::clipboard::get_clipboard(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Put text (or a base64 PNG image) on the remote desktop's clipboard, ready to paste with \
                       press_keys [\"ControlLeft\",\"KeyV\"]; faster and more exact than type_text for long text. \
                       Needs the role [clipboard] write_role names (control by default).",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            open_world_hint = false
        )
    )]
    async fn set_clipboard(
        &self,
        Extension(call): Extension<CallCtx>,
        Parameters(args): Parameters<super::clipboard::SetClipboardArgs>,
    ) -> CallToolResult {
        result_of(super::clipboard::set_clipboard(self.gw(), &call.actor, args).await)
    }

    #[tool(
        description = "Wait until the screen (or a region of it) changes, driven by the capture pipeline's change \
                       detection; returns as soon as it changes, or reports that it did not within timeout_ms. \
                       The baseline is the screen as it is when the call starts.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_for_change(
        &self,
        Parameters(args): Parameters<tools::WaitForChangeArgs>,
    ) -> CallToolResult {
        result_of(tools::wait_for_change(self.gw(), args).await)
    }

    #[tool(
        description = "Wait until the screen (or a region of it) has stopped changing for quiet_ms (page loaded, \
                       animation over), or report that it kept changing until timeout_ms.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn wait_until_stable(
        &self,
        Parameters(args): Parameters<tools::WaitUntilStableArgs>,
    ) -> CallToolResult {
        result_of(tools::wait_until_stable(self.gw(), args).await)
    }

    #[tool(
        description = "List who is connected to the gateway: viewers and agents with their transport, role, what \
                       they watch and live statistics (the same rows as GET /api/v1/sessions). Read-only: role view.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_sessions(&self) -> CallToolResult {
        result_of(Ok(tools::list_sessions(self.gw())))
    }

    #[tool(
        description = "The gateway monitor's summary: connections by kind and state, operations, tasks, media \
                       pipelines and process CPU/memory (the same snapshot as the REST monitor summary). \
                       Read-only: role view.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn monitor_summary(&self) -> CallToolResult {
        result_of(tools::monitor_summary(self.gw()))
    }
}

/// The role a tool needs, or the JSON-RPC error for an unknown tool.
fn required_role(name: &str) -> Result<Role, McpError> {
    tools::required_role(name).ok_or_else(|| {
        McpError::invalid_params(
            format!("unknown tool {}; tools/list shows the tools", echo(name)),
            None,
        )
    })
}

/// What a call of `tool` costs in the token's shared budgets (`crate::ratelimit`): every call is an
/// [`Class::McpCall`]; a screenshot is also a [`Class::Screenshot`] (a capture and an encode).
fn classes(tool: &str) -> &'static [Class] {
    if tool == "screenshot" {
        &[Class::McpCall, Class::Screenshot]
    } else {
        &[Class::McpCall]
    }
}

impl SightlineMcp {
    /// The caller of an HTTP request: the role the guard put into the request's extensions.
    fn http_principal(context_parts: Option<&Parts>) -> Option<Principal> {
        context_parts.and_then(|p| p.extensions.get::<Principal>().cloned())
    }

    /// Charges a call of `tool` to the caller's token; over budget, the tool error to answer with (and a strike
    /// against `ip`).
    fn charge(
        &self,
        tool: &str,
        principal: &Principal,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), ToolError> {
        for class in classes(tool) {
            self.gw()
                .charge(principal.token.as_str(), *class, ip)
                .map_err(ToolError::RateLimited)?;
        }
        Ok(())
    }

    /// Who reads or subscribes to a resource: checked for the role watching needs (view) and charged `classes`.
    fn resource_caller(
        &self,
        extensions: &Extensions,
        classes: &[Class],
    ) -> Result<Principal, McpError> {
        let parts = extensions.get::<Parts>();
        let principal = match &self.link {
            Link::Stdio(_) => Principal {
                role: Role::Admin,
                token: TokenKey::new(STDIO_TOKEN),
            },
            Link::Http { .. } => Self::http_principal(parts)
                .ok_or_else(|| McpError::invalid_request("no credentials on this request", None))?,
        };
        let needed = Action::Watch.required_role();
        if !principal.role.allows(needed) {
            return Err(McpError::invalid_request(
                format!(
                    "screen resources need role {needed}; this token has role {}",
                    principal.role
                ),
                None,
            ));
        }
        let ip = parts.and_then(remote_of).map(|a| a.ip());
        for class in classes {
            self.gw()
                .charge(principal.token.as_str(), *class, ip)
                .map_err(|wait| {
                    McpError::invalid_request(ToolError::RateLimited(wait).to_string(), None)
                })?;
        }
        Ok(principal)
    }

    /// The session's registration (stdio, or an initialised HTTP session); `None` for session-less requests.
    fn session_registration(&self) -> Option<&Registration> {
        match &self.link {
            Link::Stdio(reg) => Some(reg),
            Link::Http { registration, .. } => registration.get(),
        }
    }

    async fn run_tool(
        &self,
        request: CallToolRequestParams,
        mut context: RequestContext<RoleServer>,
        registration: &Registration,
        principal: Principal,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let arguments = request.arguments.clone();
        let needed = required_role(&name)?;
        let ip = context
            .extensions
            .get::<Parts>()
            .and_then(remote_of)
            .map(|a| a.ip());
        let mut op = self
            .gw()
            .operation("mcp_tool_call", Some(registration.connection_id()));
        op.detail(audit::started(&name, arguments.as_ref()));
        let response = if let Err(limited) = self.charge(&name, &principal, ip) {
            Ok(result_of(Err(limited)).into())
        } else if !principal.role.allows(needed) {
            Ok(result_of(Err(ToolError::Forbidden {
                tool: name.clone(),
                role: principal.role,
                needed,
            }))
            .into())
        } else {
            context.extensions.insert(CallCtx {
                actor: registration.actor(principal.role),
            });
            let cancelled = context.ct.clone();
            let kicked = registration.kicked().clone();
            let closed = registration.closed().clone();
            let call = async {
                match super::remote::target(request.arguments.as_ref()) {
                    // A device's screen: the device runs the tool (role and budget were checked here).
                    Some(screen) => {
                        let args = request.arguments.clone().unwrap_or_default();
                        let r =
                            super::remote::forward(self.gw(), &screen, &name, args, principal.role);
                        Ok(r.await.unwrap_or_else(|e| result_of(Err(e))).into())
                    }
                    None => {
                        let cx = ToolCallContext::new(self, request, context);
                        self.shared.tools.call(cx).await
                    }
                }
            };
            tokio::select! {
                biased;
                r = call => r,
                () = kicked.cancelled() => {
                    Ok(result_of(Err(ToolError::Cancelled("the session was ended by an administrator"))).into())
                }
                () = cancelled.cancelled() => {
                    Ok(result_of(Err(ToolError::Cancelled("the client cancelled the call"))).into())
                }
                () = closed.cancelled() => {
                    Ok(result_of(Err(ToolError::Cancelled("the session was closed by its client"))).into())
                }
            }
        };
        match &response {
            Ok(CallToolResponse::Complete(result)) => {
                let text = audit::result_text(result);
                registration.count_call(audit::result_bytes(result));
                op.detail(audit::finished(&name, arguments.as_ref(), &text));
                if result.is_error == Some(true) {
                    op.fail(audit::truncate(&text, audit::MAX_RESULT_CHARS));
                } else {
                    op.ok();
                }
            }
            Ok(_) => {
                registration.count_call(0);
                op.detail(audit::finished(
                    &name,
                    arguments.as_ref(),
                    "(not a complete result)",
                ));
                op.ok();
            }
            Err(e) => {
                registration.count_call(0);
                op.detail(audit::finished(&name, arguments.as_ref(), &e.message));
                op.fail(&e.message);
            }
        }
        response
    }
}

#[tool_handler(router = self.shared.tools)]
impl ServerHandler for SightlineMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new("sightline", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS.to_owned())
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        if let Link::Http {
            sessions,
            registration,
        } = &self.link
        {
            let parts = context.extensions.get::<Parts>();
            let Some(principal) = Self::http_principal(parts) else {
                return Err(McpError::invalid_request(
                    "no credentials on this request",
                    None,
                ));
            };
            let Some(HttpSessionId(id)) = context.extensions.get::<HttpSessionId>().cloned() else {
                return Err(McpError::internal_error("the session has no id", None));
            };
            let reg = Registration::open(
                self.gw(),
                principal.role,
                parts.and_then(remote_of),
                "streamable-http",
                Closer::Http {
                    sessions: Arc::clone(sessions),
                    id,
                },
            );
            reg.event(format!(
                "client {} {} (protocol {})",
                request.client_info.name, request.client_info.version, request.protocol_version
            ));
            if registration.set(reg).is_err() {
                return Err(McpError::invalid_request(
                    "the session is already initialised",
                    None,
                ));
            }
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.resource_caller(&context.extensions, resources::LIST_COSTS)?;
        resources::list(self.gw()).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.resource_caller(&context.extensions, resources::READ_COSTS)?;
        let reg = self.session_registration();
        Ok(resources::read_recorded(self.gw(), &request.uri, reg)
            .await?
            .into())
    }

    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.resource_caller(&context.extensions, resources::LIST_COSTS)?;
        let Some(reg) = self.session_registration() else {
            return Err(McpError::invalid_request(
                "resources/subscribe needs an initialised session",
                None,
            ));
        };
        reg.event(format!("subscribed to {}", echo(&request.uri)));
        self.subscriptions
            .subscribe(
                self.gw(),
                &self.shared.resources,
                &request.uri,
                context.peer.clone(),
                resources::Ends::of(reg),
            )
            .await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.resource_caller(&context.extensions, resources::LIST_COSTS)?;
        self.subscriptions.unsubscribe(&request.uri)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        // Synchronous, as input's screen lookup is: the cached list, re-read at most every few hundred ms.
        let uris = resources::accepted_uris(requested.resource_subscriptions.as_deref(), |id| {
            self.gw().screen(id).is_ok()
        });
        Some(
            SubscriptionFilter::builder()
                .resource_subscriptions(uris)
                .build(),
        )
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let request = context.request_context();
        let principal = self.resource_caller(&request.extensions, resources::LIST_COSTS)?;
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        // A session-less stream is registered for its duration, like a session-less tool call (a kick ends it).
        let own;
        let reg = match self.session_registration() {
            Some(reg) => reg,
            None => {
                own = Registration::open(
                    self.gw(),
                    principal.role,
                    request.extensions.get::<Parts>().and_then(remote_of),
                    "streamable-http (no session)",
                    Closer::Token(request.ct.clone()),
                );
                &own
            }
        };
        reg.event(format!("listening to {}", uris.join(", ")));
        resources::listen(
            self.gw(),
            &self.shared.resources,
            uris,
            context.sink().clone(),
            &request.ct,
            resources::Ends::of(reg),
        )
        .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // An unknown tool is a protocol error (nothing to audit, no session to register for it).
        required_role(&request.name)?;
        match &self.link {
            // The local user started the process: full rights.
            Link::Stdio(reg) => {
                let principal = Principal {
                    role: Role::Admin,
                    token: TokenKey::new(STDIO_TOKEN),
                };
                self.run_tool(request, context, reg, principal).await
            }
            Link::Http { registration, .. } => {
                let parts = context.extensions.get::<Parts>();
                let Some(principal) = Self::http_principal(parts) else {
                    return Err(McpError::invalid_request(
                        "no credentials on this request",
                        None,
                    ));
                };
                if let Some(reg) = registration.get() {
                    return self.run_tool(request, context, reg, principal).await;
                }
                // A session-less (2026-07-28) request: registered for the duration of this call.
                let remote = parts.and_then(remote_of);
                let reg = Registration::open(
                    self.gw(),
                    principal.role,
                    remote,
                    "streamable-http (no session)",
                    Closer::Token(context.ct.clone()),
                );
                self.run_tool(request, context, &reg, principal).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_costs_a_call_and_a_screenshot_also_a_screenshot() {
        assert_eq!(classes("screenshot"), [Class::McpCall, Class::Screenshot]);
        for tool in ["list_screens", "click", "wait_for_change", "list_sessions"] {
            assert_eq!(classes(tool), [Class::McpCall], "{tool}");
        }
        let long = "t".repeat(10_000);
        let err = required_role(&long).unwrap_err();
        assert!(err.message.len() < 150, "{}", err.message);
    }

    #[test]
    fn every_tool_has_a_role_and_a_described_schema() {
        let router = SightlineMcp::tool_router()
            + SightlineMcp::agent_tool_router()
            + SightlineMcp::fleet_tool_router();
        let tools = router.list_all();
        assert_eq!(tools.len(), 21);
        for t in &tools {
            assert!(
                tools::required_role(&t.name).is_some(),
                "{} has no role",
                t.name
            );
            assert!(
                t.description.as_deref().is_some_and(|d| d.len() > 40),
                "{}",
                t.name
            );
            let props = t.input_schema.get("properties").and_then(|p| p.as_object());
            for (arg, schema) in props.into_iter().flatten() {
                let described = schema.get("description").is_some()
                    || schema.get("$ref").is_some()
                    || schema.get("anyOf").is_some()
                    || schema.get("allOf").is_some();
                assert!(described, "{}.{arg} has no description: {schema}", t.name);
                let text = schema
                    .get("description")
                    .and_then(|d| d.as_str())
                    .unwrap_or("");
                assert!(!text.contains('\n'), "{}.{arg}: one line: {text:?}", t.name);
            }
        }
    }
}

//! Sign in with an API token, sign out, and where a visitor starts.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::{bad_form, forged, primary_only, CsrfForm, Page};
use crate::console::render;
use crate::console::session::{self, Session};
use crate::console::views::{self, Layout};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::tokens::{self, Role};
/// `/console`: where a signed-in visitor starts.
pub async fn home(session: Session) -> Response {
    match (&session.principal.role, &session.principal.org) {
        (Role::Org, Some(org)) => Redirect::to(&format!(
            "/console/organizations/{}/billing",
            views::segment(org.as_str())
        ))
        .into_response(),
        _ => Redirect::to("/console/organizations").into_response(),
    }
}

fn login_page(status: StatusCode, error: Option<String>, secure: bool) -> Response {
    let login_csrf = session::random_secret();
    let mut response = render(
        status,
        &views::LoginPage {
            layout: Layout::anonymous("Sign in"),
            error,
            login_csrf: login_csrf.clone(),
        },
    );
    if let Ok(value) = session::set_cookie(session::LOGIN_COOKIE, &login_csrf, 600, secure).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /console/login`.
pub async fn login_form(State(state): State<AppState>) -> Response {
    login_page(StatusCode::OK, None, state.config.console_secure_cookie)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    login_csrf: String,
}

/// `POST /console/login` (form field `token`): verify the token, start a
/// session, set the cookie.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Page {
    primary_only(&state)?;
    let Form(form) = form.map_err(bad_form)?;
    let secure = state.config.console_secure_cookie;
    // Login CSRF: the form must come from our own sign-in page.
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::same(expected, &form.login_csrf) {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired; please try again.".into()),
            secure,
        ));
    }
    let principal = tokens::authenticate(&state.db, form.token.trim())
        .await
        .map_err(ApiError::from)?;
    let Some(principal) = principal else {
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            Some("Unknown or revoked token.".into()),
            secure,
        ));
    };
    if principal.role == Role::Ingest {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            Some(
                "An ingest token cannot use the console; use a support, admin or org token.".into(),
            ),
            secure,
        ));
    }
    let ttl = state.config.console_session_ttl;
    let id = session::start(&state.db, &principal, ttl)
        .await
        .map_err(ApiError::from)?;
    let mut response = Redirect::to("/console").into_response();
    let cookies = [
        session::set_cookie(session::COOKIE, &id, ttl.as_secs(), secure),
        session::set_cookie(session::LOGIN_COOKIE, "", 0, secure),
    ];
    for cookie in cookies {
        let value = cookie.parse().map_err(ApiError::internal)?;
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /console/logout`: end the session and clear the cookie.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Page {
    primary_only(&state)?;
    let Form(form) = form.map_err(bad_form)?;
    if !session.check_csrf(&form.csrf) {
        return Err(forged());
    }
    session::end(&state.db, &session.id)
        .await
        .map_err(ApiError::from)?;
    let mut response = Redirect::to("/console/login").into_response();
    let cookie = session::set_cookie(session::COOKIE, "", 0, state.config.console_secure_cookie);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie.parse().map_err(ApiError::internal)?,
    );
    Ok(response)
}

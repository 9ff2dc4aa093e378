//! The console in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver with `fantoccini`, against the
//! real server on both backends. Screenshots land in `target/screenshots/`.
//!
//! Missing chromium or chromedriver fails these tests loudly: `.ci/run`
//! installs both.

#[allow(dead_code)]
#[path = "../http/app.rs"]
mod app;
mod browser;
mod cases;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let _one_browser_at_a_time = super::browser::LOCK.lock().await;
                    let app = super::app::spawn_app(testkit::postgres().await).await;
                    super::cases::$case(&app, concat!("postgres-", stringify!($case))).await;
                    app.shutdown().await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let _one_browser_at_a_time = super::browser::LOCK.lock().await;
                    let app = super::app::spawn_app(testkit::sqlite().await).await;
                    super::cases::$case(&app, concat!("sqlite-", stringify!($case))).await;
                    app.shutdown().await;
                }
            )+
        }
    };
}

both_backends!(
    a_support_agent_signs_in_searches_and_follows_an_invoice_line_to_its_events,
    the_as_of_picker_shows_the_invoice_as_it_stood_earlier,
    the_live_total_changes_as_usage_arrives_without_reloading,
    an_org_token_sees_its_billing_page_and_a_403_page_for_another_organization,
    signing_out_ends_the_session,
    forms_that_write_are_refused_without_the_sessions_csrf_token,
    the_event_history_filters_by_type_and_pages_with_a_cursor,
    an_admin_retries_a_parked_sync_from_the_operations_page,
    on_a_read_only_replica_pages_read_and_signing_in_needs_the_primary,
    a_session_dies_when_it_expires_or_its_token_is_revoked,
    the_console_stays_out_of_the_openapi_document,
);

//! The HTTP API over real HTTP on a random port, on both backends.

mod app;
mod cases;
mod idempotency;
mod replica;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let app = super::app::spawn_app(testkit::postgres().await).await;
                    super::cases::$case(&app).await;
                    app.shutdown().await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let app = super::app::spawn_app(testkit::sqlite().await).await;
                    super::cases::$case(&app).await;
                    app.shutdown().await;
                }
            )+
        }
    };
}

both_backends!(
    health_needs_no_token_and_everything_else_does,
    usage_is_accepted_deduplicated_and_visible_in_the_next_read,
    bad_usage_items_are_rejected_one_by_one_and_store_nothing,
    atomic_batch_with_a_bad_item_stores_nothing,
    bad_requests_get_json_errors_that_name_the_problem,
    roles_allow_and_forbid_each_endpoint,
    org_scoped_token_sees_only_its_organization,
    concurrent_clients_sending_the_same_batch_store_each_item_once,
    audit_pages_through_ten_thousand_events_without_loss_or_repeat,
    invoice_lines_provenance_and_as_of,
    charges_credits_and_subscriptions_land_on_the_invoice,
    ops_report_lag_and_rebuild_in_the_background,
    metrics_need_an_admin_token_and_count_what_happened,
    openapi_document_describes_every_route_and_only_real_ones,
    invoice_reads_say_where_the_invoice_stands_in_stripe,
    usage_is_corrected_and_voided_by_later_events,
    racing_corrections_of_one_usage_event_apply_once_each,
    a_read_only_replica_answers_every_read_and_refuses_every_write,
    a_price_with_an_invalid_spec_is_refused_naming_the_field_and_stores_nothing,
    invoice_amounts_carry_the_currencys_minor_unit_places_and_lines_name_the_price,
    every_error_from_any_layer_is_the_json_envelope,
    an_idempotency_key_replays_the_first_answer_and_refuses_another_request,
    a_failed_request_keeps_nothing_so_its_retry_runs_again,
    a_malformed_idempotency_key_is_refused_naming_the_header,
    racing_retries_with_one_idempotency_key_execute_once,
);

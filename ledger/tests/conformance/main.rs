//! The `EventStore` contract, run against both backends: every case below
//! is one generic body, instantiated once per backend by `conformance!`.

mod cases;
mod gap_safety;

/// Instantiate every case for one backend (`testkit::postgres`/`sqlite`).
macro_rules! conformance {
    ($backend:ident: $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let db = testkit::$backend().await;
                    super::cases::$case(&db).await;
                }
            )+
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_writers_never_let_a_tailing_reader_skip_an_event() {
                let db = testkit::$backend().await;
                super::gap_safety::concurrent_writers_never_let_a_tailing_reader_skip_an_event(&db)
                    .await;
            }
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),+ $(,)?) => {
        conformance!(postgres: $($case),+);
        conformance!(sqlite: $($case),+);
    };
}

all_backends!(
    appends_and_reads_back_a_stream,
    stale_expected_version_is_a_conflict_and_writes_nothing,
    no_stream_expectation_refuses_an_existing_stream,
    any_version_appends_without_a_check,
    duplicate_idempotency_key_stores_nothing_and_names_the_original,
    duplicate_keys_within_one_batch_store_the_first_only,
    retried_append_with_only_duplicates_succeeds_despite_a_stale_version,
    racing_duplicates_store_the_key_once,
    racing_expected_version_appends_let_exactly_one_win,
    racing_appends_to_one_stream_get_consecutive_versions,
    a_racing_append_the_database_refuses_fails_alone,
    read_all_returns_every_event_in_global_order_in_pages,
    read_stream_starts_at_the_requested_version,
    events_cannot_be_updated_or_deleted,
    one_mebibyte_payload_round_trips,
    unicode_round_trips,
    empty_batch_stores_nothing,
    batch_with_one_invalid_event_stores_nothing,
    batch_failing_in_the_database_stores_nothing,
    multi_stream_batch_with_one_conflict_stores_nothing,
    nul_characters_are_refused_on_every_backend,
    audit_reads_filter_by_org_type_and_time_and_paginate_both_ways,
    event_by_id_and_head_position,
    typed_domain_events_round_trip_through_the_store,
    replay_page_returns_typed_events_in_order_and_refuses_unknown_types,
    read_only_handle_reads_everything_and_writes_nothing,
    schema_check_names_both_versions_when_they_differ,
    a_write_abandoned_while_it_begins_leaves_no_transaction_open,
    a_batch_larger_than_one_insert_statement_keeps_its_order,
    a_large_batch_with_one_stored_key_stores_the_rest,
    a_large_retried_batch_is_all_duplicates_whatever_its_expectation,
    racing_large_batches_with_the_same_keys_store_them_once,
    json_text_reads_a_stored_document_as_its_text,
    a_replay_page_of_several_decode_chunks_keeps_order_and_reports_corruption,
    a_replay_page_decodes_every_column_as_the_full_read_does,
    times_keep_microseconds_rounded_down_before_and_after_both_epochs,
    racing_large_retried_and_stale_appends_each_get_their_own_outcome,
    two_processes_appending_to_one_stream_never_trust_a_remembered_version,
);

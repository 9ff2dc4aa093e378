//! The projection runner, rebuild, views and closer against real databases:
//! every case runs on PostgreSQL and on SQLite.

mod cases;
mod seed;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::cases::$case(testkit::postgres().await).await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::cases::$case(testkit::sqlite().await).await;
                }
            )+
        }
    };
}

both_backends!(
    runner_projects_invoices_equal_to_a_full_replay,
    restarting_after_every_small_batch_gives_the_same_invoices,
    two_runners_at_once_fold_each_event_once,
    runner_follows_live_appends,
    rebuild_swaps_in_a_fresh_generation_with_the_same_checksum,
    verify_names_the_invoice_that_drifted,
    as_of_shows_an_invoice_as_it_stood,
    line_provenance_pages_through_the_events_behind_a_line,
    racing_closers_finalize_each_period_exactly_once,
    finalized_invoice_never_changes_and_late_usage_moves_on,
    changed_invoices_feed_pages_by_position_up_to_the_checkpoint,
    as_of_a_time_is_as_of_the_last_position_recorded_by_then,
    closed_periods_leave_the_state_and_come_back_for_late_usage_and_payments,
    a_rebuild_within_a_one_book_budget_gives_the_same_invoices,
    a_rebuild_reads_across_a_wide_hole_in_the_positions,
    a_decline_for_an_invoice_compacted_out_of_the_state_shows_on_it,
    commits_larger_than_one_insert_statement_keep_every_invoice,
    fill_writes_only_a_generation_being_built_and_a_crash_after_it_is_abandoned,
);

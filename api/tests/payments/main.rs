//! Payments from Stripe over real HTTP: signed webhooks into invoice reads,
//! on both backends.

#[allow(dead_code)]
#[path = "../http/app.rs"]
mod app;
mod cases;
mod stripe;

macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let app = super::stripe::spawn(testkit::postgres().await).await;
                    super::cases::$case(&app).await;
                    app.shutdown().await;
                }
            )+
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let app = super::stripe::spawn(testkit::sqlite().await).await;
                    super::cases::$case(&app).await;
                    app.shutdown().await;
                }
            )+
        }
    };
}

both_backends!(
    a_signed_paid_event_makes_the_invoice_paid_and_clears_the_balance_due,
    unsigned_forged_tampered_and_stale_webhooks_get_400_and_store_nothing,
    a_redelivered_event_is_recorded_once,
    a_failure_delivered_after_paid_never_makes_the_invoice_unpaid,
    a_failed_payment_shows_its_reason_and_next_attempt_and_stays_due,
    uncollectible_and_voided_invoices_leave_the_balance_due,
    an_event_for_an_unknown_invoice_is_acknowledged_and_kept_for_operators,
    a_rotated_secret_is_accepted_alongside_the_new_one,
    an_unmatched_event_redelivered_after_its_invoice_became_known_is_applied_once,
    the_catch_up_applies_an_unmatched_event_once_its_invoice_is_known,
    two_concurrent_deliveries_of_one_event_store_one_fact,
    a_decline_recorded_before_its_failure_arrived_shows_once_the_failure_does,
);

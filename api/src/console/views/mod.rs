//! Typed view models of the console's pages and the askama templates that
//! render them (`api/templates/console/`, checked at compile time).

mod rows;

use askama::Template;

pub use rows::*;

use super::session::Session;
use crate::tokens::Role;

/// What every page's header shows.
pub struct Layout {
    pub title: String,
    pub signed_in: bool,
    pub who: String,
    pub role: String,
    pub csrf: String,
    pub support: bool,
    pub admin: bool,
    pub billing_href: Option<String>,
}

impl Layout {
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            signed_in: false,
            who: String::new(),
            role: String::new(),
            csrf: String::new(),
            support: false,
            admin: false,
            billing_href: None,
        }
    }

    pub fn of(session: &Session, title: impl Into<String>) -> Self {
        let principal = &session.principal;
        Self {
            title: title.into(),
            signed_in: true,
            who: principal.name.clone(),
            role: principal.role.as_str().to_owned(),
            csrf: session.csrf.clone(),
            support: matches!(principal.role, Role::Support | Role::Admin),
            admin: principal.role == Role::Admin,
            billing_href: principal
                .org
                .as_ref()
                .map(|org| format!("/console/organizations/{}/billing", segment(org.as_str()))),
        }
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub error: Option<String>,
    pub login_csrf: String,
}

#[derive(Template)]
#[template(path = "console/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub status: u16,
}

pub struct OrgRow {
    pub href: String,
    pub org_id: String,
    pub currency: String,
    pub anchor: String,
}

#[derive(Template)]
#[template(path = "console/orgs.html")]
pub struct OrgsPage {
    pub layout: Layout,
    pub q: String,
    pub orgs: Vec<OrgRow>,
    pub truncated: bool,
}

/// The live current invoice on the organization page.
pub struct CurrentView {
    pub period: String,
    pub total: String,
    pub currency: String,
    pub position: i64,
    pub lines: usize,
    pub href: String,
    pub live_url: String,
}

#[derive(Template)]
#[template(path = "console/org.html")]
pub struct OrgPage {
    pub layout: Layout,
    pub org_id: String,
    pub events_href: String,
    pub billing_href: String,
    pub current: Option<CurrentView>,
    pub no_current: String,
    pub sync: Option<SyncView>,
    pub spend: Option<SpendView>,
    pub invoices: Vec<InvoiceRow>,
}

#[derive(Template)]
#[template(path = "console/invoice.html")]
pub struct InvoicePage {
    pub layout: Layout,
    pub org_id: String,
    pub org_href: String,
    pub live_href: String,
    pub period: String,
    pub status: String,
    pub version: i64,
    pub total: String,
    pub currency: String,
    pub as_of_label: Option<String>,
    pub as_of_value: String,
    pub sync: Option<SyncView>,
    pub lines: Vec<LineRow>,
}

#[derive(Template)]
#[template(path = "console/line.html")]
pub struct LinePage {
    pub layout: Layout,
    pub invoice_href: String,
    pub period: String,
    pub description: String,
    pub amount: String,
    pub quantity: String,
    pub events: Vec<EventRow>,
    pub next_href: Option<String>,
}

pub struct TypeOption {
    pub name: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "console/events.html")]
pub struct EventsPage {
    pub layout: Layout,
    pub org_id: String,
    pub org_href: String,
    pub action: String,
    pub types: Vec<TypeOption>,
    pub from: String,
    pub to: String,
    pub events: Vec<EventRow>,
    pub next_href: Option<String>,
}

pub struct ProjectionRow {
    pub name: String,
    pub generation: i64,
    pub position: i64,
    pub head: i64,
    pub events_behind: i64,
    pub seconds_behind: i64,
}

pub struct ParkedRow {
    pub org_id: String,
    pub period_start: String,
    pub attempts: i64,
    pub last_error: String,
    pub retry_action: String,
}

#[derive(Template)]
#[template(path = "console/ops.html")]
pub struct OpsPage {
    pub layout: Layout,
    pub flash: Option<String>,
    pub projections: Vec<ProjectionRow>,
    pub stripe: String,
    pub totals: String,
    pub parked: Vec<ParkedRow>,
    /// Organizations the projection set aside (poison pills), and why.
    pub parked_orgs: Vec<SetAside>,
    /// Invoices the period closer could not finalize, and why.
    pub unclosed: Vec<SetAside>,
}

/// Something the pipeline set aside for an operator: what, and why.
pub struct SetAside {
    pub what: String,
    pub error: String,
    pub since: String,
}

pub struct ChartView {
    pub meter: String,
    pub unit: String,
    pub label: String,
    pub svg: String,
    pub days: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/billing.html")]
pub struct BillingPage {
    pub layout: Layout,
    pub org_id: String,
    pub owed: Option<String>,
    pub currency: String,
    pub period: String,
    pub position: i64,
    pub no_current: String,
    pub charts: Vec<ChartView>,
    pub spend: Option<SpendView>,
    pub invoices: Vec<InvoiceRow>,
}

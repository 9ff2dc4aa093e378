//! Group commit: concurrent appends share one transaction, one position
//! lock and one commit (one `fsync`), and each caller still gets its own
//! outcome — its conflict, its duplicates, its positions.
//!
//! Every append joins a queue. Whoever then holds the *leader* lock takes
//! everything queued (up to [`MAX_GROUP_EVENTS`]) and commits it as one
//! transaction on a task of its own, so a caller that gives up (a dropped
//! future, an HTTP timeout) never abandons the others' appends halfway.
//! While one group commits, the next one queues, so under load groups grow
//! by themselves and an idle store commits each append alone, without
//! waiting for company.
//!
//! Inside the transaction the group costs what one append costs: one
//! lookup of all members' keys, one of all their stream versions, one
//! insert of all their rows (`sql::append_members`); a group of
//! [`ASSUME_KEYS_FROM`] keys or more skips the key lookup, and the version
//! lookup of streams whose versions earlier groups saw committed
//! (`seen.rs`), and lets the unique indexes say whether a key was stored or
//! a stream moved on (`sql::Keys::Assume`).
//! Members are planned in queue order, each after the ones before it
//! (`plan.rs`), so two members expecting the same stream version get
//! exactly what two sequential appends would: one appends, one
//! conflicts; a repeated key in a later member is a duplicate of the
//! earlier member's event. Should the database refuse the insert (an
//! event id already stored), nothing was written and the group is run
//! again member by member, each after a savepoint, so only the member at
//! fault is told so. Gap safety is unchanged: the group draws its
//! positions under the position lock and commits before releasing it.

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::seen::SeenVersions;
use super::sql::{events, looked_up, Keys};
use super::{AppendOutcome, StoreError, StreamAppend};
use crate::db::{Database, WriteTx};

/// Most events one group commits (the rest wait for the next).
pub(super) const MAX_GROUP_EVENTS: usize = 20_000;

type Reply = oneshot::Sender<Result<Vec<AppendOutcome>, StoreError>>;

struct Member {
    appends: Vec<StreamAppend>,
    reply: Reply,
}

/// The queue and the leader lock of one database's appends.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Vec<Member>>,
    leader: tokio::sync::Mutex<()>,
    /// What the groups' commits have seen of their streams' versions.
    seen: SeenVersions,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

fn lost() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the group commit carrying this append stopped before answering; \
         its outcome is unknown (retry with the same event ids or keys)"
            .into(),
    ))
}

impl GroupCommit {
    pub(super) fn seen(&self) -> &SeenVersions {
        &self.seen
    }

    /// A new connection to the database was made: what earlier groups saw
    /// may be of a database that has since gone back in time (`seen.rs`).
    pub(crate) fn connected(&self) {
        self.seen.connected();
    }

    /// Append `appends` (already validated) in the next group.
    pub(super) async fn append(
        &self,
        db: &Database,
        appends: Vec<StreamAppend>,
    ) -> Result<Vec<AppendOutcome>, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        self.queue
            .lock()
            .map_err(|_| lost())?
            .push(Member { appends, reply });
        loop {
            let leader = tokio::select! {
                answered = &mut answer => return answered.map_err(|_| lost())?,
                leader = self.leader.lock() => leader,
            };
            // A previous leader may have answered us while we waited.
            match answer.try_recv() {
                Ok(answered) => return answered,
                Err(oneshot::error::TryRecvError::Closed) => return Err(lost()),
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            let group = self.take()?;
            if group.is_empty() {
                // Ours is in a group whose leader gave up waiting; that
                // group's task still answers.
                drop(leader);
                return (&mut answer).await.map_err(|_| lost())?;
            }
            let db = db.clone();
            let committing = tokio::spawn(async move { commit(&db, group).await });
            // Our answer, if we were in this group, is sent before the task
            // ends; if not, we lead the next group.
            let _ = committing.await;
            drop(leader);
        }
    }

    /// The queued members, oldest first, up to [`MAX_GROUP_EVENTS`] events
    /// (always at least one member).
    fn take(&self) -> Result<Vec<Member>, StoreError> {
        let mut queue = self.queue.lock().map_err(|_| lost())?;
        let mut events = 0;
        let mut count = 0;
        for member in queue.iter() {
            let size: usize = member.appends.iter().map(|a| a.events.len()).sum();
            if count > 0 && events + size > MAX_GROUP_EVENTS {
                break;
            }
            events += size;
            count += 1;
        }
        Ok(queue.drain(..count).collect())
    }
}

/// Commit one group and answer every member.
async fn commit(db: &Database, group: Vec<Member>) {
    let (appends, replies): (Vec<_>, Vec<_>) =
        group.into_iter().map(|m| (m.appends, m.reply)).unzip();
    let results = match run(db, &appends).await {
        Ok(results) => results,
        // Alone: the error is the append's own, exactly as without a group.
        Err(e) if appends.len() == 1 => vec![Err(e.into_store_error())],
        Err(GroupError::NotStarted(_)) => {
            // Nothing was written: each member alone, for its own error.
            let mut results = Vec::with_capacity(appends.len());
            for member in &appends {
                results.push(run(db, std::slice::from_ref(member)).await.map_or_else(
                    |e| vec![Err(e.into_store_error())],
                    |mut r| r.pop().into_iter().collect(),
                ));
            }
            results.into_iter().flatten().collect()
        }
        Err(e) => {
            let message = e.into_store_error().to_string();
            (0..appends.len())
                .map(|_| {
                    Err(StoreError::Database(sqlx::Error::Protocol(format!(
                        "the group commit failed; whether this append is stored is unknown \
                         (retry with the same event ids or keys): {message}"
                    ))))
                })
                .collect()
        }
    };
    for (reply, result) in replies.into_iter().zip(results) {
        let _ = reply.send(result);
    }
    // Freeing a large group takes long enough (measured: 1.4 ms for 1,000
    // usage events) that the next group's leader, who waits for this task,
    // should not wait for it; a small one is freed faster than a thread is
    // woken.
    let events: usize = appends.iter().flatten().map(|a| a.events.len()).sum();
    if events >= 256 {
        tokio::task::spawn_blocking(move || drop(appends));
    }
}

enum GroupError {
    /// Failed before anything was committed, and the transaction is rolled
    /// back (begin, lock, a refused insert).
    NotStarted(StoreError),
    /// Failed after (a savepoint, the commit): the outcome is unknown.
    Failed(StoreError),
}

impl GroupError {
    fn into_store_error(self) -> StoreError {
        match self {
            Self::NotStarted(e) | Self::Failed(e) => e,
        }
    }
}

/// One transaction for every member; each member's own result.
async fn run(
    db: &Database,
    members: &[Vec<StreamAppend>],
) -> Result<Vec<Result<Vec<AppendOutcome>, StoreError>>, GroupError> {
    let members: Vec<&[StreamAppend]> = members.iter().map(Vec::as_slice).collect();
    match run_together(db, &members).await {
        // The database refused the group's insert (say, an event id that
        // is already stored) and nothing was written: find out whose.
        Err(GroupError::NotStarted(_)) if members.len() > 1 => run_apart(db, &members).await,
        result => result,
    }
}

/// Groups with at least this many idempotency keys first assume none is
/// stored ([`Keys::Assume`]); smaller ones look their keys up, which costs
/// them little, while a wrong guess costs a second transaction.
const ASSUME_KEYS_FROM: usize = 64;

/// The fast path: every member's lookups, rows and insert at once.
async fn run_together(
    db: &Database,
    members: &[&[StreamAppend]],
) -> Result<Vec<Result<Vec<AppendOutcome>, StoreError>>, GroupError> {
    let keys = events(members)
        .filter(|e| e.idempotency_key.is_some())
        .count();
    if keys >= ASSUME_KEYS_FROM {
        if let Some(results) = run_once(db, members, Keys::Assume).await? {
            return Ok(results);
        }
    }
    looked_up(run_once(db, members, Keys::LookUp).await?).map_err(GroupError::NotStarted)
}

/// One transaction for the whole group; `None` when `keys` was
/// [`Keys::Assume`] and wrong (rolled back, nothing written).
async fn run_once(
    db: &Database,
    members: &[&[StreamAppend]],
    keys: Keys,
) -> Result<Option<Vec<Result<Vec<AppendOutcome>, StoreError>>>, GroupError> {
    let mut tx = begin(db).await?;
    let epoch = db.group_commit().seen().epoch();
    let Some(results) = super::sql::append_members(&mut tx, db, members, keys)
        .await
        .map_err(GroupError::NotStarted)?
    else {
        tx.rollback()
            .await
            .map_err(|e| GroupError::NotStarted(e.into()))?;
        return Ok(None);
    };
    tx.commit()
        .await
        .map_err(|e| GroupError::Failed(e.into()))?;
    remember(db, epoch, &results);
    Ok(Some(results))
}

/// Remember the stream versions a committed group wrote or read (its
/// transaction began at `epoch`).
fn remember(db: &Database, epoch: u64, results: &[Result<Vec<AppendOutcome>, StoreError>]) {
    let outcomes = results.iter().flatten().flatten();
    db.group_commit()
        .seen()
        .record(epoch, outcomes.map(|o| (&o.stream_id, o.stream_version)));
}

/// The careful path: each member after a savepoint, so one member's
/// refused insert is rolled back alone.
async fn run_apart(
    db: &Database,
    members: &[&[StreamAppend]],
) -> Result<Vec<Result<Vec<AppendOutcome>, StoreError>>, GroupError> {
    let mut tx = begin(db).await?;
    let epoch = db.group_commit().seen().epoch();
    let mut results = Vec::with_capacity(members.len());
    for member in members {
        savepoint(&mut tx, "SAVEPOINT member").await?;
        match super::sql::append_in(&mut tx, db, member).await {
            Ok(outcome) => {
                savepoint(&mut tx, "RELEASE SAVEPOINT member").await?;
                results.push(Ok(outcome));
            }
            Err(e) => {
                savepoint(&mut tx, "ROLLBACK TO SAVEPOINT member").await?;
                savepoint(&mut tx, "RELEASE SAVEPOINT member").await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| GroupError::Failed(e.into()))?;
    remember(db, epoch, &results);
    Ok(results)
}

/// A write transaction holding the position lock.
async fn begin(db: &Database) -> Result<WriteTx, GroupError> {
    super::insert::begin_locked(db)
        .await
        .map_err(GroupError::NotStarted)
}

async fn savepoint(tx: &mut WriteTx, sql: &str) -> Result<(), GroupError> {
    tx.query(sql)
        .execute()
        .await
        .map(|_| ())
        .map_err(|e| GroupError::Failed(e.into()))
}

//! The command service: authorizes, decides and appends every change.
//!
//! Each organization has a worker task that keeps its state in memory
//! (`worker`); all appends go through one committer task that groups them
//! into shared transactions (`committer`). Commands that create a password
//! hash it before they queue, so argon2id never blocks a worker.

mod committer;
mod envelope;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use domain::commands::NewPerson;
use domain::events::{Actor, EventMetadata, Medium};
use domain::ids::{OrgId, UserId};
use domain::registry::{self, Handles, OrganizationRegistered, OrganizationRenamed, RegistryEvent};
use domain::store::{
    pages_of_stream, AppendRequest, AppendResult, EventStore, ExpectedVersion, NewEvent,
    PendingEffect, Receipt, StoreError,
};
use domain::{decide, Command, DomainError, Event, Organization};
use futures::TryStreamExt;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

use crate::answers::{Answer, Idempotency};
use crate::credentials::{
    CredentialChange, Credentials, CredentialsError, EffectError, PasswordCheck,
};
use crate::secrets;

pub use worker::load;

/// Why a command did not take effect. Nothing was appended in any case.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// A rule refused the command.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Other writers kept changing the organization; retrying later may work.
    #[error("the organization kept changing; gave up after {attempts} attempts")]
    Conflict { attempts: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The credentials database failed (shared: a batch's commands all get
    /// it).
    #[error("credentials")]
    Credentials(#[source] Arc<CredentialsError>),
    /// A committed command's credentials changes could not be applied;
    /// they stay pending and are applied at the next start.
    #[error("credentials changes of a committed command")]
    Effects(#[source] Arc<EffectError>),
    /// A blocking task died (a panic, or the runtime stopping).
    #[error("{0} task")]
    Task(&'static str, #[source] Arc<tokio::task::JoinError>),
    /// A stored event could not be read back.
    #[error("corrupt event log at {at}: {reason}")]
    Corrupt { at: String, reason: String },
    #[error("the command service is shutting down")]
    Stopped,
}

impl From<CredentialsError> for ServiceError {
    fn from(e: CredentialsError) -> Self {
        ServiceError::Credentials(Arc::new(e))
    }
}

impl From<EffectError> for ServiceError {
    fn from(e: EffectError) -> Self {
        ServiceError::Effects(Arc::new(e))
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The global position of the command's last event (or of the
    /// organization's last event when it changed nothing): the consistency
    /// token for read-your-writes.
    pub position: u64,
    pub events: Vec<Event>,
    /// The caller's answer, rendered from the state the command left (when
    /// the command was sent with a renderer).
    pub answer: Option<Answer>,
    /// Whether that answer was sealed and kept with the command's events
    /// (an `Idempotency-Key` and at least one event).
    pub answer_kept: bool,
}

/// Who issues a command and through what; copied into every event's
/// metadata. With `idempotency`, the command's answer is kept with its
/// events for a re-send of the same request.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    pub medium: Medium,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub idempotency: Option<Idempotency>,
}

impl CommandContext {
    pub fn new(actor: Actor, medium: Medium) -> Self {
        CommandContext {
            actor,
            medium,
            request_id: None,
            ip: None,
            user_agent: None,
            idempotency: None,
        }
    }

    fn metadata(&self) -> EventMetadata {
        let mut m = EventMetadata::new(self.actor.clone(), self.medium, Utc::now());
        m.request_id = self.request_id.clone();
        m.ip = self.ip.clone();
        m.user_agent = self.user_agent.clone();
        m
    }
}

/// Renders a command's answer from the state it left (see
/// [`Outcome::answer`]); called again if the command is decided again.
pub type Render = Arc<dyn Fn(&Organization) -> Answer + Send + Sync>;

/// Renders the answer of a command whose result is a `T`, before it
/// commits.
pub type Renderer<T> = Box<dyn Fn(&T) -> Answer + Send + Sync>;

/// What goes with a command: how to render its answer, and the credentials
/// changes that follow its commit.
#[derive(Default)]
pub struct With {
    pub render: Option<Render>,
    pub effects: Vec<CredentialChange>,
}

/// What a command that appended `last_event + 1` events of a request
/// leaves beside them: its answer sealed for the caller's key (if the
/// caller sent one) and its credentials changes.
fn receipt(
    claim: &Option<Idempotency>,
    last_event: usize,
    answer: Option<&Answer>,
    effects: Vec<PendingEffect>,
) -> Receipt {
    Receipt {
        last_event,
        answer: claim
            .as_ref()
            .zip(answer)
            .map(|(claim, answer)| claim.seal(answer)),
        effects,
    }
}

/// A newly created organization and its first Owner's temporary password.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedOrganization {
    pub org_id: OrgId,
    pub owner: CreatedUser,
    pub position: u64,
    /// The caller's answer, when a renderer was given.
    #[serde(skip)]
    pub answer: Option<Answer>,
    /// Whether that answer was kept with the events.
    #[serde(skip)]
    pub answer_kept: bool,
}

/// A new user and the temporary password shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedUser {
    pub user_id: UserId,
    pub email: String,
    pub username: String,
    pub temporary_password: String,
}

/// The organizations known to this process, by name.
#[derive(Default)]
struct Registry {
    version: u64,
    handles: Handles,
}

/// The write side's entry point. Cheap to clone; safe to share.
#[derive(Clone)]
pub struct CommandService {
    store: Arc<dyn EventStore>,
    credentials: Credentials,
    committer: mpsc::Sender<committer::CommitJob>,
    workers: Arc<std::sync::Mutex<HashMap<OrgId, mpsc::Sender<worker::Msg>>>>,
    registry: Arc<Mutex<Registry>>,
}

impl CommandService {
    /// Starts the service over a store and a credentials database. Must run
    /// inside a tokio runtime.
    pub fn new(store: Arc<dyn EventStore>, credentials: Credentials) -> Self {
        CommandService {
            committer: committer::spawn(store.clone()),
            store,
            credentials,
            workers: Arc::default(),
            registry: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn worker(&self, org: OrgId) -> mpsc::Sender<worker::Msg> {
        let mut workers = self.workers.lock().expect("workers lock");
        workers
            .entry(org)
            .or_insert_with(|| worker::spawn(org, self.store.clone(), self.committer.clone()))
            .clone()
    }

    /// Decides and appends one command for an organization. Concurrent
    /// commands for the same organization are decided in arrival order, each
    /// against the state the previous ones left.
    pub async fn execute(
        &self,
        org: OrgId,
        command: Command,
        ctx: &CommandContext,
    ) -> Result<Outcome, ServiceError> {
        self.submit(org, command, ctx, None, With::default()).await
    }

    /// Like [`CommandService::execute`], with an answer rendered from the
    /// state right after the command (kept with its events when `ctx`
    /// carries an `Idempotency-Key`) and credentials changes applied once
    /// it has committed (kept in its transaction until done).
    pub async fn execute_with(
        &self,
        org: OrgId,
        command: Command,
        ctx: &CommandContext,
        with: With,
    ) -> Result<Outcome, ServiceError> {
        self.submit(org, command, ctx, None, with).await
    }

    /// Like [`CommandService::execute`], and answers `question` from the
    /// state right after the command took effect (as the batch it was
    /// committed with left it), without another trip through the
    /// organization's worker: what a command's answer shows of the result.
    pub async fn execute_then<T: Send + 'static>(
        &self,
        org: OrgId,
        command: Command,
        ctx: &CommandContext,
        question: impl FnOnce(&Organization) -> T + Send + 'static,
    ) -> Result<(Outcome, T), ServiceError> {
        let (tell, told) = oneshot::channel();
        let then: worker::Then = Box::new(move |state| {
            let _ = tell.send(question(state));
        });
        let outcome = self
            .submit(org, command, ctx, Some(then), With::default())
            .await?;
        // Answered before the outcome was sent.
        let answer = told.await.map_err(|_| ServiceError::Stopped)?;
        Ok((outcome, answer))
    }

    /// Queues a command on the organization's worker, waits for its
    /// outcome, then applies its credentials changes.
    async fn submit(
        &self,
        org: OrgId,
        command: Command,
        ctx: &CommandContext,
        then: Option<worker::Then>,
        with: With,
    ) -> Result<Outcome, ServiceError> {
        let effects: Vec<PendingEffect> = credentials_changes_of(org, &command)
            .iter()
            .chain(&with.effects)
            .map(|c| c.pending())
            .collect();
        let (reply, answer) = oneshot::channel();
        let job = worker::Job {
            command,
            metadata: ctx.metadata(),
            reply,
            queued: std::time::Instant::now(),
            then,
            render: with.render,
            idempotency: ctx.idempotency.clone(),
            effects: effects.clone(),
        };
        self.worker(org)
            .send(worker::Msg::Execute(Box::new(job)))
            .await
            .map_err(|_| ServiceError::Stopped)?;
        let outcome = answer.await.map_err(|_| ServiceError::Stopped)??;
        self.apply_effects(&effects).await?;
        Ok(outcome)
    }

    /// Applies committed credentials changes and clears them from the
    /// outbox. If this fails the changes stay pending (done at the next
    /// start, or by [`CommandService::apply_pending_effects`]).
    async fn apply_effects(&self, effects: &[PendingEffect]) -> Result<(), ServiceError> {
        if effects.is_empty() {
            return Ok(());
        }
        self.credentials
            .apply_effects(&*self.store, effects)
            .await
            .map_err(ServiceError::from)
    }

    /// Applies what a crash left in the outbox (run at start, before
    /// serving); returns how many changes were done.
    pub async fn apply_pending_effects(&self) -> Result<usize, ServiceError> {
        self.credentials
            .apply_pending(&*self.store)
            .await
            .map_err(ServiceError::from)
    }

    /// The organization's current state (caught up with the store) and the
    /// global position of its last event.
    pub async fn state(&self, org: OrgId) -> Result<(Organization, u64), ServiceError> {
        let (reply, answer) = oneshot::channel();
        self.worker(org)
            .send(worker::Msg::Snapshot(reply))
            .await
            .map_err(|_| ServiceError::Stopped)?;
        answer.await.map_err(|_| ServiceError::Stopped)?
    }

    /// Answers a question from the organization's current state (caught up
    /// with the store) without copying it: resolving names, logins.
    pub async fn read<T: Send + 'static>(
        &self,
        org: OrgId,
        question: impl FnOnce(&Organization) -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        let (reply, answer) = oneshot::channel();
        let ask = move |state: Result<&Organization, ServiceError>| {
            let _ = reply.send(state.map(question));
        };
        self.worker(org)
            .send(worker::Msg::Read(Box::new(ask)))
            .await
            .map_err(|_| ServiceError::Stopped)?;
        answer.await.map_err(|_| ServiceError::Stopped)?
    }

    /// Catches the registry of organization names up with the store.
    async fn refresh_registry(&self, reg: &mut Registry) -> Result<(), ServiceError> {
        let stream = registry::stream();
        let mut pages = std::pin::pin!(pages_of_stream(
            &*self.store,
            &stream,
            reg.version + 1,
            10_000
        ));
        while let Some(events) = pages.try_next().await? {
            for e in events {
                reg.handles
                    .apply(&e.event_type, &e.data)
                    .map_err(|reason| ServiceError::Corrupt {
                        at: format!("registry version {}", e.stream_version),
                        reason,
                    })?;
                reg.version = e.stream_version;
            }
        }
        Ok(())
    }

    /// Finds an organization by id or name.
    pub async fn find_org(&self, id_or_name: &str) -> Result<Option<OrgId>, ServiceError> {
        let mut reg = self.registry.lock().await;
        self.refresh_registry(&mut reg).await?;
        Ok(reg.handles.find(id_or_name))
    }

    /// Every organization, by name.
    pub async fn organizations(&self) -> Result<Vec<(String, OrgId)>, ServiceError> {
        let mut reg = self.registry.lock().await;
        self.refresh_registry(&mut reg).await?;
        let mut all: Vec<_> = reg
            .handles
            .all()
            .iter()
            .map(|(n, o)| (n.to_lowercase(), *o))
            .collect();
        all.sort();
        Ok(all)
    }

    /// Creates an organization and its first Owner with a temporary password.
    /// The name is unique across the instance (`org_exists`). The registry
    /// entry, the organization's first events, the Owner's password and
    /// `answer` (rendered before the commit) commit together or not at all.
    pub async fn create_organization(
        &self,
        name: &str,
        url: Option<String>,
        owner_email: &str,
        owner_username: Option<String>,
        ctx: &CommandContext,
        answer: Option<Renderer<(OrgId, CreatedUser)>>,
    ) -> Result<CreatedOrganization, ServiceError> {
        let org_id = OrgId::new();
        let owner = NewPerson {
            user_id: UserId::new(),
            email: owner_email.to_string(),
            username: owner_username,
        };
        let command = Command::CreateOrganization {
            org_id,
            name: name.to_string(),
            url,
            owner: owner.clone(),
        };
        // Validate before paying for a password hash.
        let events = decide(&Organization::new(), &command, &ctx.actor)?;
        let password = secrets::temporary_password();
        let hash = secrets::hash_temporary_password(&password);
        let username = match &events[1] {
            Event::UserInvited(u) => u.username.clone(),
            _ => unreachable!("CreateOrganization invites the owner second"),
        };
        let created = CreatedUser {
            user_id: owner.user_id,
            email: owner.email,
            username,
            temporary_password: password,
        };
        let effects = vec![CredentialChange::SetPassword {
            org: org_id,
            user: owner.user_id,
            hash,
            must_change: true,
        }
        .pending()];
        let rendered = answer.map(|render| render(&(org_id, created.clone())));
        let receipt = receipt(
            &ctx.idempotency,
            events.len() - 1,
            rendered.as_ref(),
            effects.clone(),
        );
        let answer_kept = receipt.answer.is_some();

        let metadata = ctx.metadata();
        let meta_json = envelope::metadata_json(&metadata);
        let mut attempts = 0;
        let position = loop {
            attempts += 1;
            let mut reg = self.registry.lock().await;
            self.refresh_registry(&mut reg).await?;
            if reg.handles.holder(name).is_some() {
                return Err(ServiceError::Domain(DomainError::OrgExists));
            }
            let registered = RegistryEvent::Registered(OrganizationRegistered {
                org_id,
                name: name.to_string(),
            });
            let request = AppendRequest {
                stream: org_id.stream(),
                expected: ExpectedVersion::NoStream,
                events: events
                    .iter()
                    .map(|e| envelope::envelope(e, &meta_json))
                    .collect(),
                receipts: vec![receipt.clone()],
            };
            match self
                .append_with_registry(&reg, registered, &meta_json, request)
                .await
            {
                Ok(appended) => break appended.last_position,
                Err(StoreError::WrongExpectedVersion { .. }) if attempts < worker::MAX_ATTEMPTS => {
                    continue
                }
                Err(StoreError::WrongExpectedVersion { .. }) => {
                    return Err(ServiceError::Conflict { attempts })
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.apply_effects(&effects).await?;
        Ok(CreatedOrganization {
            org_id,
            owner: created,
            position,
            answer: rendered,
            answer_kept,
        })
    }

    /// Changes the organization's settings. A new name is also its new
    /// handle in URLs: it must be free across the instance (`org_exists`),
    /// and the registry's rename and the organization's
    /// `OrganizationSettingsChanged` commit together or not at all, so the
    /// old name stops resolving exactly when the new one starts.
    pub async fn change_settings(
        &self,
        org: OrgId,
        name: Option<String>,
        url: Option<String>,
        ctx: &CommandContext,
        render: Option<Render>,
    ) -> Result<Outcome, ServiceError> {
        let command = Command::ChangeSettings { name, url };
        let metadata = ctx.metadata();
        let meta_json = envelope::metadata_json(&metadata);
        for _ in 0..worker::MAX_ATTEMPTS {
            let mut reg = self.registry.lock().await;
            self.refresh_registry(&mut reg).await?;
            // Decided on the worker, against its state caught up with the
            // store, without copying that state (but for a rename's answer,
            // rendered from a copy the change has been applied to: the
            // rename commits here, not on the worker).
            let (asked, actor, renderer) = (command.clone(), ctx.actor.clone(), render.clone());
            let (decided, version) = self
                .read(org, move |s| {
                    let decided = decide(s, &asked, &actor).map(|events| {
                        let answer = renderer.filter(|_| renames(&events).is_some()).map(|r| {
                            let mut after = s.clone();
                            events.iter().for_each(|e| after.evolve(e));
                            r(&after)
                        });
                        (events, answer)
                    });
                    (decided, s.version)
                })
                .await?;
            let (events, answer) = decided?;
            let Some(new_name) = renames(&events) else {
                // No new handle (a URL change, or nothing): the usual path.
                drop(reg);
                let with = With {
                    render,
                    effects: Vec::new(),
                };
                return self.execute_with(org, command, ctx, with).await;
            };
            if reg
                .handles
                .holder(&new_name)
                .is_some_and(|holder| holder != org)
            {
                return Err(ServiceError::Domain(DomainError::OrgExists));
            }
            let renamed = RegistryEvent::Renamed(OrganizationRenamed {
                org_id: org,
                name: new_name,
            });
            let receipt = receipt(
                &ctx.idempotency,
                events.len() - 1,
                answer.as_ref(),
                Vec::new(),
            );
            let answer_kept = receipt.answer.is_some();
            let request = AppendRequest {
                stream: org.stream(),
                expected: ExpectedVersion::Exact(version),
                events: events
                    .iter()
                    .map(|e| envelope::envelope(e, &meta_json))
                    .collect(),
                receipts: vec![receipt],
            };
            match self
                .append_with_registry(&reg, renamed, &meta_json, request)
                .await
            {
                // The organization's worker finds out at its next append
                // (a version conflict makes it reload).
                Ok(appended) => {
                    return Ok(Outcome {
                        position: appended.last_position,
                        events,
                        answer,
                        answer_kept,
                    })
                }
                Err(StoreError::WrongExpectedVersion { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict {
            attempts: worker::MAX_ATTEMPTS,
        })
    }

    /// Appends `event` to the registry (at the version `reg` has read) and
    /// `request` of an organization together, all or nothing: a name and
    /// the organization change together. A version conflict on either
    /// stream is the caller's to retry, with the registry read again.
    async fn append_with_registry(
        &self,
        reg: &Registry,
        event: RegistryEvent,
        meta_json: &str,
        request: AppendRequest,
    ) -> Result<AppendResult, StoreError> {
        let expected = match reg.version {
            0 => ExpectedVersion::NoStream,
            v => ExpectedVersion::Exact(v),
        };
        let registry_event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event.event_type().to_string(),
            schema_version: event.schema_version(),
            data: event.to_json(),
            metadata: meta_json.to_string(),
        };
        let batch = vec![
            AppendRequest::new(registry::stream(), expected, vec![registry_event]),
            request,
        ];
        let mut results = self.store.append_all(batch).await?;
        Ok(results.pop().expect("one result per request"))
    }

    /// Invites people (all or nothing), each with a temporary password that
    /// must be changed at first login. The passwords' hashes are stored
    /// once the invitation has committed (kept in its transaction).
    pub async fn invite_people(
        &self,
        org: OrgId,
        people: Vec<(String, Option<String>)>,
        role: Option<domain::ids::RoleId>,
        ctx: &CommandContext,
        answer: Option<Renderer<Vec<CreatedUser>>>,
    ) -> Result<(Vec<CreatedUser>, Outcome), ServiceError> {
        let people: Vec<NewPerson> = people
            .into_iter()
            .map(|(email, username)| NewPerson {
                user_id: UserId::new(),
                email,
                username,
            })
            .collect();
        // Refuse bad input before hashing anything.
        let command = Command::InvitePeople {
            people: people.clone(),
            role,
        };
        let (asked, actor) = (command.clone(), ctx.actor.clone());
        self.read(org, move |s| decide(s, &asked, &actor).map(|_| ()))
            .await??;
        let passwords: Vec<String> = people
            .iter()
            .map(|_| secrets::temporary_password())
            .collect();
        let hashes: Vec<String> = passwords
            .iter()
            .map(|p| secrets::hash_temporary_password(p))
            .collect();
        let effects = people
            .iter()
            .zip(hashes)
            .map(|(p, hash)| CredentialChange::SetPassword {
                org,
                user: p.user_id,
                hash,
                must_change: true,
            })
            .collect();
        let created = move |username: &dyn Fn(UserId) -> String| -> Vec<CreatedUser> {
            people
                .iter()
                .zip(&passwords)
                .map(|(p, password)| CreatedUser {
                    user_id: p.user_id,
                    email: p.email.clone(),
                    username: username(p.user_id),
                    temporary_password: password.clone(),
                })
                .collect()
        };
        let created = Arc::new(created);
        let render: Render = {
            let created = created.clone();
            Arc::new(move |s| {
                let users = created(&|user| s.username(user));
                match &answer {
                    Some(render) => render(&users),
                    None => Answer::json(201, &users),
                }
            })
        };
        let with = With {
            render: Some(render),
            effects,
        };
        let outcome = self.execute_with(org, command, ctx, with).await?;
        // As committed: the usernames the invitation gave.
        let users = created(&|user| {
            outcome
                .events
                .iter()
                .find_map(|e| match e {
                    Event::UserInvited(u) if u.user_id == user => Some(u.username.clone()),
                    _ => None,
                })
                .unwrap_or_default()
        });
        Ok((users, outcome))
    }

    /// Issues a new temporary password for a user (shown once). Needs
    /// `organization.people.manage` or being that user; the password changes
    /// once the reset has committed (kept in its transaction).
    pub async fn reset_password(
        &self,
        org: OrgId,
        user: UserId,
        ctx: &CommandContext,
        answer: Option<Renderer<String>>,
    ) -> Result<(String, Outcome), ServiceError> {
        let password = secrets::temporary_password();
        let hash = secrets::hash_temporary_password(&password);
        let shown = password.clone();
        let with = With {
            render: answer.map(|render| Arc::new(move |_: &Organization| render(&shown)) as Render),
            effects: vec![CredentialChange::SetPassword {
                org,
                user,
                hash,
                must_change: true,
            }],
        };
        let outcome = self
            .execute_with(org, Command::ResetPassword { user }, ctx, with)
            .await?;
        Ok((password, outcome))
    }

    /// A user replaces their password after proving the current one (the
    /// temporary one included). Fails with `invalid_credentials` or
    /// `weak_password` (as `DomainError::Invalid`). `with` may carry more
    /// credentials changes (the session the API opens) and the answer; the
    /// new password's hash is stored with them once the change commits.
    pub async fn change_password(
        &self,
        org: OrgId,
        user: UserId,
        current: &str,
        new: &str,
        ctx: &CommandContext,
        mut with: With,
    ) -> Result<Outcome, ServiceError> {
        if self.credentials.check_password(user, current).await? == PasswordCheck::Invalid {
            return Err(DomainError::invalid(
                "current_password",
                "invalid_credentials",
                "wrong login or password",
            )
            .into());
        }
        secrets::check_password_strength(new)
            .map_err(|why| DomainError::invalid("new_password", "weak_password", why))?;
        if new == current {
            return Err(DomainError::invalid(
                "new_password",
                "weak_password",
                "choose a password different from the current one",
            )
            .into());
        }
        let hash = hash_blocking(new.to_string()).await?;
        with.effects.insert(
            0,
            CredentialChange::SetPassword {
                org,
                user,
                hash,
                must_change: false,
            },
        );
        self.execute_with(org, Command::SetPassword { user }, ctx, with)
            .await
    }
}

/// The user whose every session and token `command` ends, whichever route
/// sends it: removal and deactivation of a person or a service account, and
/// a service account's regenerated token (the older ones go), and the
/// organization's SCIM token issued anew or revoked (the tokens of its
/// [`scim_identity`](domain::ids::scim_identity)).
pub fn ends_credentials_of(org: OrgId, command: &Command) -> Option<UserId> {
    match command {
        Command::RemoveUser { user }
        | Command::DeactivateUser { user }
        | Command::ChangeProfile {
            user,
            active: Some(false),
            ..
        } => Some(*user),
        Command::IssueScimToken { .. } | Command::RevokeScimToken => {
            Some(domain::ids::scim_identity(org))
        }
        Command::RemoveServiceAccount { service_account }
        | Command::RegenerateServiceAccountToken {
            service_account, ..
        } => Some(*service_account),
        _ => None,
    }
}

/// The credentials changes `command` causes by itself, before those its
/// caller adds: every session and token ended (see [`ends_credentials_of`])
/// and a removed person's password forgotten.
fn credentials_changes_of(org: OrgId, command: &Command) -> Vec<CredentialChange> {
    let mut changes: Vec<CredentialChange> = ends_credentials_of(org, command)
        .map(|user| CredentialChange::RevokeAllOf { user })
        .into_iter()
        .collect();
    if let Command::RemoveUser { user } = command {
        changes.push(CredentialChange::ForgetPassword { user: *user });
    }
    changes
}

/// The new name a settings change gives the organization, if any.
fn renames(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::OrganizationSettingsChanged(c) => c.name.clone(),
        _ => None,
    })
}

async fn hash_blocking(password: String) -> Result<String, ServiceError> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ServiceError::Task("password hashing", Arc::new(e)))
}

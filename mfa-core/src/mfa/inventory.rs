//! The driver's hardware-token inventory requests: import, list, assign, unassign,
//! retire (the rules are in [`crate::inventory`]).

use crate::error::{Error, InputError, Missing};
use crate::event::Event;
use crate::inventory::{
    self, HardwareTokenInfo, HardwareTokenPage, INDEX_PAGE, ImportOutcome, InventoryRecord,
    MAX_IMPORT, MAX_INDEX_PAGES, TokenImport,
};
use crate::machine::{self, Effect};
use crate::method::{MethodName, TokenSerial};
use crate::record::UserRecord;
use crate::store::Commit;
use crate::user::UserId;
use crate::{Method, Pending};

use super::Mfa;

impl Mfa {
    /// An administrator imports hardware tokens (as `mfa_totp::TokenSeed::import`
    /// makes them from a seed file) into the inventory, where each serial gets one
    /// sealed record holding its secret. Returns what became of each serial, in order:
    /// a serial the inventory holds already is left as it was (its secret is not
    /// replaced), so importing the same file twice is harmless. At most
    /// [`MAX_IMPORT`](crate::inventory::MAX_IMPORT) tokens at a time.
    pub async fn import_hardware_tokens(
        &self,
        tokens: &[TokenImport],
    ) -> Result<Vec<(TokenSerial, ImportOutcome)>, Error> {
        if tokens.len() > MAX_IMPORT {
            return Err(InputError::InvalidSetting("at most 10,000 tokens per import").into());
        }
        // What the index lists already, and how many pages it has.
        let mut listed = std::collections::HashSet::new();
        let mut pages = 0;
        while pages < MAX_INDEX_PAGES {
            match self.index_page(pages).await? {
                Some(serials) => {
                    listed.extend(serials);
                    pages += 1;
                }
                None => break,
            }
        }
        let capacity = INDEX_PAGE * MAX_INDEX_PAGES;
        let now = self.clock.now();
        let mut outcomes = Vec::with_capacity(tokens.len());
        let mut to_list = Vec::new();
        for token in tokens {
            if !listed.contains(&token.serial) && listed.len() + to_list.len() >= capacity {
                outcomes.push((token.serial.clone(), ImportOutcome::InventoryFull));
                continue;
            }
            let mut rec = UserRecord::default();
            inventory::create(&mut rec.inventory, token, now);
            rec.updated_at = now;
            let key = inventory::token_key(&token.serial);
            // Created only where nothing is: a conflict means the serial is there.
            let outcome = match self.store.commit(&key, None, rec).await? {
                Commit::Committed(_) => ImportOutcome::Imported,
                Commit::Conflict => ImportOutcome::AlreadyPresent,
            };
            // Listed after its record exists; an import cut short between the two is
            // repaired by importing again (the serial is then listed).
            if !listed.contains(&token.serial) && !to_list.contains(&token.serial) {
                to_list.push(token.serial.clone());
            }
            outcomes.push((token.serial.clone(), outcome));
        }
        let mut page = pages.saturating_sub(1);
        while !to_list.is_empty() && page < MAX_INDEX_PAGES {
            let (left, _) = self
                .run(&inventory::index_key(page), |rec, _, _| {
                    inventory::append_to_index(&mut rec.inventory, &to_list)
                })
                .await?;
            to_list = left;
            page += 1;
        }
        let imported = outcomes
            .iter()
            .filter(|(_, o)| *o == ImportOutcome::Imported)
            .count();
        let already_present = outcomes
            .iter()
            .filter(|(_, o)| *o == ImportOutcome::AlreadyPresent)
            .count();
        self.emit_one(
            Event::HardwareTokensImported {
                imported,
                already_present,
            },
            now,
        );
        Ok(outcomes)
    }

    /// One page of the inventory ([`INDEX_PAGE`] tokens, in import order, from page
    /// 0): serial, kind, holder, retirement; never a secret. One load per token.
    pub async fn hardware_token_page(&self, page: usize) -> Result<HardwareTokenPage, Error> {
        let Some(serials) = self.index_page(page).await? else {
            return Ok(HardwareTokenPage {
                tokens: Vec::new(),
                next: None,
            });
        };
        let mut tokens = Vec::with_capacity(serials.len());
        for serial in &serials {
            if let Some(info) = self.hardware_token(serial).await? {
                tokens.push(info);
            }
        }
        let next = (serials.len() >= INDEX_PAGE && self.index_page(page + 1).await?.is_some())
            .then_some(page + 1);
        Ok(HardwareTokenPage { tokens, next })
    }

    /// One token of the inventory, without its secret; `None` if it was never imported.
    pub async fn hardware_token(
        &self,
        serial: &TokenSerial,
    ) -> Result<Option<HardwareTokenInfo>, Error> {
        let loaded = self.store.load(&inventory::token_key(serial)).await?;
        Ok(match loaded.and_then(|v| v.record.inventory) {
            Some(InventoryRecord::Token(t)) => Some(t.info()),
            _ => None,
        })
    }

    /// An administrator assigns an inventory token to a user. The token is claimed
    /// for the user first, by compare-and-set on its record, so of two assignments of
    /// one serial (to two users, on two servers) exactly one wins; the other gets
    /// [`PolicyError::TokenAssigned`](crate::PolicyError::TokenAssigned). The token
    /// is then pending until the user answers the returned challenge with its first
    /// code and completes, within
    /// [`Policy::hardware_token_confirmation`](crate::Policy::hardware_token_confirmation);
    /// [`Mfa::enrollment_challenge`] finds that challenge again. Needs no proof: the
    /// administrator vouches, the code proves the user holds the token. A token whose
    /// confirmation lapsed stays claimed for its user: assign it to them again, or
    /// [`Mfa::unassign_hardware_token`] it. A user who holds the token already (one
    /// assigned before the inventory existed) gets
    /// [`PolicyError::AlreadyEnrolled`](crate::PolicyError::AlreadyEnrolled), and the
    /// inventory records them as its holder.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.assign_hardware_token", skip_all, fields(user = %user, serial = %serial), ret, err(level = "warn", Display)))]
    pub async fn assign_hardware_token(
        &self,
        user: &UserId,
        serial: &TokenSerial,
        name: Option<&str>,
    ) -> Result<Pending, Error> {
        if self.tokens.is_none() {
            return Err(Error::NotConfigured(Missing::TokenVerifier));
        }
        let name = name.map(MethodName::parse).transpose()?;
        let ((credential, newly), _) = self
            .run(&inventory::token_key(serial), |rec, ctx, _| {
                let token = inventory::token_mut(&mut rec.inventory)?;
                inventory::claim(token, user, ctx.now)
            })
            .await?;
        let fresh = self.fresh();
        let assigned = self
            .run(user, |rec, ctx, fx| {
                machine::assign_token(
                    rec,
                    serial.clone(),
                    credential.clone(),
                    name.clone(),
                    &fresh,
                    ctx,
                    fx,
                )
            })
            .await;
        match assigned {
            Ok((pending, _)) => {
                self.emit_one(
                    Event::HardwareTokenAssigned {
                        user: user.clone(),
                        serial: serial.clone(),
                    },
                    self.clock.now(),
                );
                Ok(pending)
            }
            // The user holds this token already (assigned before the inventory
            // existed, say): the claim is right, and stays.
            Err(e @ Error::Policy(crate::PolicyError::AlreadyEnrolled)) => Err(e),
            Err(e) => {
                if newly {
                    // The claim was this request's: give the token back. Should that
                    // fail too, the token stays claimed for this user, and
                    // `unassign_hardware_token` returns it.
                    let _ = self.return_token(serial, Some(user)).await;
                }
                Err(e)
            }
        }
    }

    /// An administrator takes a token back: its method leaves the holder's record
    /// (with its challenges and the proofs made from it, even if it was their last
    /// method) and the token is free to assign again. `false` when nobody held it.
    pub async fn unassign_hardware_token(&self, serial: &TokenSerial) -> Result<bool, Error> {
        let holder = match self.hardware_token(serial).await? {
            None => return Err(Error::NotFound(Missing::HardwareToken)),
            Some(info) => match info.assigned {
                None => return Ok(false),
                Some(a) => a.user,
            },
        };
        self.run(&holder, |rec, ctx, fx| {
            machine::drop_token(rec, serial, ctx, fx);
            Ok(())
        })
        .await?;
        Ok(self.return_token(serial, Some(&holder)).await?.is_some())
    }

    /// An administrator retires an unassigned token (lost, broken, replaced): its
    /// secret is erased from the inventory and it is never assigned again; it stays
    /// listed as retired. An assigned token must be unassigned first.
    pub async fn retire_hardware_token(&self, serial: &TokenSerial) -> Result<(), Error> {
        self.run(&inventory::token_key(serial), |rec, ctx, fx| {
            let token = inventory::token_mut(&mut rec.inventory)?;
            if inventory::retire(token, ctx.now)? {
                fx.push(Effect::Emit(Event::HardwareTokenRetired {
                    serial: serial.clone(),
                }));
            }
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Gives the tokens among `serials` that `user` holds back to the inventory,
    /// after their methods left the user's record. Tokens the inventory does not
    /// know (assigned before it existed) are skipped.
    pub(super) async fn return_tokens(
        &self,
        user: &UserId,
        serials: &[TokenSerial],
    ) -> Result<(), Error> {
        for serial in serials {
            self.return_token(serial, Some(user)).await?;
        }
        Ok(())
    }

    /// Clears the token's assignment if `holder` holds it; the user it was
    /// returned from, if any.
    async fn return_token(
        &self,
        serial: &TokenSerial,
        holder: Option<&UserId>,
    ) -> Result<Option<UserId>, Error> {
        let key = inventory::token_key(serial);
        // Checked before the commit, so returning a token nobody holds writes nothing.
        let held = self
            .store
            .load(&key)
            .await?
            .and_then(|v| v.record.inventory)
            .is_some_and(|i| {
                matches!(i, InventoryRecord::Token(t)
                    if t.assigned.as_ref().is_some_and(|a| holder.is_none_or(|h| &a.user == h)))
            });
        if !held {
            return Ok(None);
        }
        let (returned, _) = self
            .run(&key, |rec, _, fx| {
                let token = inventory::token_mut(&mut rec.inventory)?;
                Ok(inventory::release(token, holder).map(|event| {
                    let user = match &event {
                        Event::HardwareTokenUnassigned { user, .. } => Some(user.clone()),
                        _ => None,
                    };
                    fx.push(Effect::Emit(event));
                    user
                }))
            })
            .await?;
        Ok(returned.flatten())
    }

    async fn index_page(&self, page: usize) -> Result<Option<Vec<TokenSerial>>, Error> {
        let loaded = self.store.load(&inventory::index_key(page)).await?;
        Ok(match loaded.and_then(|v| v.record.inventory) {
            Some(InventoryRecord::Index(serials)) => Some(serials),
            _ => None,
        })
    }
}

/// The serials of the hardware tokens in a user's record.
pub(super) fn token_serials(rec: &UserRecord) -> Vec<TokenSerial> {
    rec.methods
        .iter()
        .filter_map(|m| match &m.method {
            Method::HardwareToken { serial } => Some(serial.clone()),
            _ => None,
        })
        .collect()
}

//! What makes an account's holder one person in a waiting room's line, read in batches
//! ([`crate::batch`]): at 09:00 thousands join in the same second, and each join needs the
//! blind indexes of the account's phone and of the ID numbers it books for.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_domain::account::AccountStore;
use gatehouse_domain::order::AccountId;

use crate::batch::BatchReader;

/// Person keys by account id.
pub(crate) type PersonKeyReader = BatchReader<i64, Vec<[u8; 32]>>;

/// Starts the reads on the current runtime. Joins arrive one request at a time, so the task
/// lets the requests already running queue first (three yields) and one read serves many.
pub(crate) fn person_key_reader(store: Arc<dyn AccountStore>) -> PersonKeyReader {
    BatchReader::start("person-key", 3, move |accounts: Vec<i64>| {
        let store = store.clone();
        async move {
            let ids: Vec<AccountId> = accounts.into_iter().map(AccountId).collect();
            let mut by_account: HashMap<i64, Vec<[u8; 32]>> = HashMap::new();
            for (account, index) in store.person_keys(&ids).await? {
                by_account.entry(account.0).or_default().push(index.0);
            }
            Ok(by_account)
        }
    })
}

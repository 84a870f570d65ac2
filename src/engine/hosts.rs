//! The `host` kind: the machines resources live on. Every build has it; each provider adds its
//! own settings to it (see [`hive_sdk::provider::Provider::host_settings`]). A host is
//! recorded as configured, with its id (its address, or `local`) and name (its label); the
//! plan checks its health (see [`crate::plan::down_hosts`]).

use hive_sdk::provider::{
    ApplyRequest, ApplyResponse, DeleteRequest, KindSpec, PlanRequest, PlanResponse, Provider,
    ProviderError, ReadRequest, ReadResponse,
};
use hive_sdk::schema::{self, computed, optional, Schema};
use hive_sdk::{Type, Value};

pub const KIND: &str = "host";
pub const DRIVER: &str = "local";

/// What every host block may hold, whatever the providers add.
pub fn schema() -> Schema {
    schema::schema(
        vec![
            optional("address", Type::String).about("remote host reached over SSH"),
            optional("user", Type::String),
            optional("port", Type::Number),
            // A path, recorded: refresh and destroy reach the host with it later. A key's
            // text is refused (it would be kept).
            optional("ssh_key", Type::String)
                .about("private key file for SSH; default: the SSH agent"),
            optional("known_hosts", Type::String)
                .about("where the host's key is checked (default ~/.ssh/known_hosts)"),
            optional("host_key", Type::String)
                .about("the host's key, pinned: SHA256:... or TYPE BASE64; wins over known_hosts"),
            optional("max_parallel", Type::Number).about("per-host cap on concurrent steps"),
            computed("id", Type::String),
            computed("name", Type::String).about("the block's label: host \"NAME\""),
        ],
        vec![schema::block(
            "capacity",
            schema::Nesting::Single,
            schema::schema(
                vec![
                    optional("memory", Type::String)
                        .about("memory the host offers (wins over what it has free)"),
                    optional("cpus", Type::Number),
                ],
                vec![],
            ),
        )],
    )
}

/// A host's id (its address, or `local`) and name (its block's label).
fn identity(config: &Value, address: &hive_sdk::addr::InstanceAddr) -> (String, String) {
    let id = config.attr_str("address").unwrap_or("local").to_string();
    (id, address.resource.name.clone())
}

pub struct HostProvider;

impl Provider for HostProvider {
    fn driver(&self) -> &'static str {
        DRIVER
    }

    fn kinds(&self) -> Vec<KindSpec> {
        // The registry gives the host kind its schema, with every provider's settings.
        vec![KindSpec {
            kind: KIND,
            schema: Schema::default(),
            default_driver: true,
        }]
    }

    fn validate(&self, _kind: &str, config: &Value) -> Vec<hive_sdk::problem::Problem> {
        // A key's text would be kept in the state and shown in errors: only a path is taken.
        match config.attr_str("ssh_key") {
            Some(key) if key.contains("PRIVATE KEY") => vec![hive_sdk::problem::Problem::at(
                "ssh_key",
                "ssh_key holds a key's text: give the path of its file instead (hive records the path, never the key)",
            )],
            _ => Vec::new(),
        }
    }

    /// A host's id and name are known from its block: placement and messages use them at
    /// plan time.
    fn plan(
        &self,
        request: &PlanRequest<'_>,
        mut proposal: PlanResponse,
    ) -> Result<PlanResponse, ProviderError> {
        if let Value::Map(entries) = &mut proposal.planned {
            let (id, name) = identity(request.config, request.target.address);
            entries.insert("id".into(), Value::String(id));
            entries.insert("name".into(), Value::String(name));
        }
        Ok(proposal)
    }

    fn create(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        let (id, name) = identity(request.config, request.target.address);
        let mut state = request.config.as_map().cloned().unwrap_or_default();
        state.insert("id".into(), Value::String(id.clone()));
        state.insert("name".into(), Value::String(name));
        Ok(ApplyResponse {
            state: Value::Map(state),
            id,
        })
    }

    fn update(&self, request: &ApplyRequest<'_>) -> Result<ApplyResponse, ProviderError> {
        self.create(request)
    }

    fn refreshes(&self) -> bool {
        false
    }

    fn read(&self, request: &ReadRequest<'_>) -> Result<ReadResponse, ProviderError> {
        Ok(ReadResponse::Found(request.prior.clone()))
    }

    fn delete(&self, _request: &DeleteRequest<'_>) -> Result<(), ProviderError> {
        Ok(())
    }
}

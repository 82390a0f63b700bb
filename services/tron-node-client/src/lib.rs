//! tron-node-client: validates TRON payout requests and relays them to a configured TRON node HTTP API.
//!
//! The only component of the stack that speaks to TRON. A payout request names a recipient
//! (Base58Check TRON address: version byte 0x41, 21-byte payload, double-SHA-256 checksum) and an
//! amount in sun within the configured bounds. A valid payout is relayed to the node's
//! `/wallet/createtransaction` (from the payout wallet `TRON_OWNER_ADDRESS`), which returns the
//! unsigned transaction; once signed by the wallet's signer it is relayed to
//! `/wallet/broadcasttransaction`.
//!
//! # API (JSON)
//! | method | path | request | response |
//! |---|---|---|---|
//! | GET | `/limits` | – | `{min_payout_sun, max_payout_sun, node_configured}` |
//! | POST | `/validate` | `{to_address, amount_sun}` | `{valid: true, to_address, amount_sun}`; 422 `{error, field}` |
//! | POST | `/payouts` | `{to_address, amount_sun}` | 201 `{to_address, amount_sun, transaction}` (the node's unsigned transaction); 422 invalid; 502 node refused/unreachable; 503 no node configured |
//! | POST | `/broadcasts` | `{transaction}` (signed: `txID`, `raw_data`, `signature`) | `{result: true, txid}` from the node; 422 malformed; 502; 503 |
//!
//! # Configuration
//! - `TRON_MIN_PAYOUT_SUN` (1000000), `TRON_MAX_PAYOUT_SUN` (100000000000): amount bounds in sun.
//! - `TRON_NODE_URL` (optional): `http://host:port` of a java-tron full node's HTTP API. Without
//!   it the service validates only, `/payouts` and `/broadcasts` answer 503 and `/ready` says why.
//! - `TRON_OWNER_ADDRESS` (required with `TRON_NODE_URL`): the payout wallet's address.
//!
//! # Out of scope
//! A TRON full node itself (a JVM program, far outside a static distroless image) and TLS to a
//! public endpoint (plain HTTP to a node in the deployment). The wallet's private key never enters
//! this container: signing happens in the payout wallet's signer between `/payouts` and
//! `/broadcasts`. TRC-20 token transfers and payout bookkeeping (who was paid what) belong to the
//! callers.

pub mod address;
pub mod node;
pub mod payout;

use address::TronAddress;
use lucid_runtime::{client, log, App, Context, Env, Request, Response, Routes};
use node::TronNode;
use payout::{Limits, PayoutRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Config {
    limits: Limits,
    node: Option<(String, Option<TronAddress>)>,
}

pub struct Service {
    limits: Limits,
    node: Option<TronNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BroadcastBody {
    transaction: Value,
}

impl App for Service {
    type Config = Config;

    const MAX_BODY_BYTES: u64 = 64 << 10;

    fn config(env: &mut Env) -> Config {
        let min_sun = env.parse_within(
            "TRON_MIN_PAYOUT_SUN",
            1_000_000u64,
            1..,
            "smallest payout in sun",
        );
        let max_sun = env.parse(
            "TRON_MAX_PAYOUT_SUN",
            100_000_000_000u64,
            "largest payout in sun",
        );
        env.check(
            min_sun <= max_sun,
            format!("TRON_MIN_PAYOUT_SUN={min_sun} is above TRON_MAX_PAYOUT_SUN={max_sun}"),
        );
        let url = env.optional(
            "TRON_NODE_URL",
            "http://host:port of the TRON node HTTP API",
        );
        let owner = env.optional("TRON_OWNER_ADDRESS", "TRON address of the payout wallet");
        if let Some(u) = &url {
            if let Err(e) = client::host_port(u) {
                env.check(false, format!("TRON_NODE_URL={u:?}: {e}"));
            }
        }
        let owner = match (&url, owner) {
            (Some(_), None) => {
                env.check(
                    false,
                    "TRON_OWNER_ADDRESS: required when TRON_NODE_URL is set",
                );
                None
            }
            (_, Some(text)) => match TronAddress::parse(&text) {
                Ok(a) => Some(a),
                Err(e) => {
                    env.check(false, format!("TRON_OWNER_ADDRESS={text:?}: {e}"));
                    None
                }
            },
            (None, None) => None,
        };
        Config {
            limits: Limits { min_sun, max_sun },
            node: url.map(|u| (u, owner)),
        }
    }

    fn start(config: Config, ctx: &Context) -> Result<Self, String> {
        let node = match config.node {
            Some((url, Some(owner))) => Some(TronNode::new(&url, owner, ctx.client.clone())),
            Some((_, None)) => return Err("TRON_OWNER_ADDRESS missing".into()),
            None => None,
        };
        Ok(Service {
            limits: config.limits,
            node,
        })
    }

    fn routes(routes: &mut Routes<Self>) {
        routes
            .get("/limits", |s, _| s.limits())
            .post("/validate", |s, req| {
                let payout = s.validated(req)?;
                Ok(Response::json(
                    200,
                    &json!({ "valid": true, "to_address": payout.to_address, "amount_sun": payout.amount_sun }),
                ))
            })
            .post("/payouts", Self::payout)
            .post("/broadcasts", Self::broadcast);
    }

    fn ready(&self) -> Result<(), String> {
        match &self.node {
            None => Err("no TRON node configured (TRON_NODE_URL)".into()),
            Some(node) => client::reachable(node.url(), Duration::from_secs(1))
                .map_err(|e| format!("TRON node: {e}")),
        }
    }
}

impl Service {
    fn limits(&self) -> Response {
        Response::json(
            200,
            &json!({
                "min_payout_sun": self.limits.min_sun,
                "max_payout_sun": self.limits.max_sun,
                "node_configured": self.node.is_some(),
            }),
        )
    }

    fn payout(&self, req: &Request) -> Result<Response, Response> {
        let payout = self.validated(req)?;
        let node = self.node()?;
        let tx = node.create_transaction(&payout).map_err(|e| {
            log::warn("payout relay failed", json!({ "error": e.to_string() }));
            Response::error(502, e.to_string())
        })?;
        log::info(
            "payout transaction created",
            json!({ "to": payout.to_address, "amount_sun": payout.amount_sun, "txid": tx["txID"] }),
        );
        Ok(Response::json(
            201,
            &json!({ "to_address": payout.to_address, "amount_sun": payout.amount_sun, "transaction": tx }),
        ))
    }

    fn broadcast(&self, req: &Request) -> Result<Response, Response> {
        let body: BroadcastBody = req.json()?;
        node::check_signed(&body.transaction).map_err(|e| Response::error(422, e))?;
        let reply = self
            .node()?
            .broadcast(&body.transaction)
            .map_err(|e| Response::error(502, e.to_string()))?;
        log::info(
            "transaction broadcast",
            json!({ "txid": body.transaction["txID"] }),
        );
        Ok(Response::json(200, &reply))
    }

    fn validated(&self, req: &Request) -> Result<payout::Payout, Response> {
        let body: PayoutRequest = req.json()?;
        payout::validate(&body, self.limits).map_err(|invalid| Response::json(422, &invalid))
    }

    fn node(&self) -> Result<&TronNode, Response> {
        self.node
            .as_ref()
            .ok_or_else(|| Response::error(503, "no TRON node configured (TRON_NODE_URL)"))
    }
}

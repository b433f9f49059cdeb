//! The hub against peers it must refuse: unenrolled, revoked, forging another author's entries,
//! writing outside their jurisdiction, or sending broken frames. Each refusal stores nothing and the
//! hub keeps serving honest agents.

use baobi_agent::net::{self, Identity};
use baobi_agent::store::Store;
use baobi_proto::wire::{self, Body, CampaignEvent, CampaignKind, Hello, Msg, Op, RefusalCode};
use baobi_proto::{Date, Entry, Hlc, Keypair, Token};
use baobi_tests::raw::{identity_of, open, push, refusal, rt, seal};
use baobi_tests::{stderr, Agent, Hub};

fn campaign(unit: &str) -> Op {
    Op::Record(Body::Campaign(CampaignEvent {
        unit: unit.into(),
        date: Date(20250310),
        kind: CampaignKind::Event,
        participants: Some(50),
        topic: "Ngày hội không túi ni lông".into(),
    }))
}

#[test]
fn hub_refuses_strangers_forgers_and_trespassers_and_keeps_serving() {
    let hub = Hub::start();
    let honest = hub.enroll_agent("30226");
    let other = hub.enroll_agent("30208");
    let market = honest.outlet("market", "Chợ Tân Thành", "30226", &[]);
    honest.market_survey(&market, "2025-03-12", "20", &[]);
    honest.sync();
    let before = hub.records();
    let honest_entries: Vec<Entry> = Store::open(honest.dir.path())
        .unwrap()
        .own_entries()
        .unwrap();
    let other_id = identity_of(&other);
    let honest_run = seal(&identity_of(&honest).keypair, &honest_entries);
    let rt = rt();

    // 1. A stranger the hub never enrolled.
    let stranger = Identity::generate().unwrap();
    let (_ep, _c, mut s) = rt.block_on(open(&hub, &honest.token, &stranger));
    let answer = rt.block_on(async {
        s.send(&Msg::Hello(Hello {
            version: 1,
            digest: [0; 16],
        }))
        .await
        .unwrap();
        s.recv().await
    });
    assert_eq!(refusal(answer.ok().flatten()), RefusalCode::NotEnrolled);

    // 2. An enrolled agent replaying another author's (validly sealed) entries.
    assert_eq!(
        refusal(rt.block_on(push(&hub, &other.token, &other_id, vec![honest_run]))),
        RefusalCode::WrongAuthor
    );

    // 3. An entry claiming the agent as author but not sealed by it (altered after sealing).
    let honest_one = other_id
        .keypair
        .sign_entry(1, Hlc(1 << 40), campaign("30208"));
    let mut forged = seal(&other_id.keypair, &[honest_one]);
    forged.items[0].op = campaign("30226");
    assert_eq!(
        refusal(rt.block_on(push(&hub, &other.token, &other_id, vec![forged]))),
        RefusalCode::BadSignature
    );

    // 4. A properly signed entry about a commune outside the agent's jurisdiction.
    let trespass = other_id
        .keypair
        .sign_entry(1, Hlc(1 << 40), campaign("30226"));
    assert_eq!(
        refusal(rt.block_on(push(
            &hub,
            &other.token,
            &other_id,
            vec![seal(&other_id.keypair, &[trespass])]
        ))),
        RefusalCode::OutsideJurisdiction
    );

    // 5. A key the agent does not hold, claiming the agent's author id, fails TLS or enrollment lookup.
    let impostor = Identity {
        keypair: Keypair::generate(),
        cert_der: other_id.cert_der.clone(),
    };
    let refused = rt.block_on(async {
        match net::connect(
            hub.addr.unwrap(),
            Token::from_text(&other.token).unwrap().hub_fingerprint,
            &impostor,
        )
        .await
        {
            Err(_) => true,
            Ok((_e, _c, mut s)) => {
                let _ = s
                    .send(&Msg::Hello(Hello {
                        version: 1,
                        digest: [0; 16],
                    }))
                    .await;
                !matches!(
                    s.recv().await,
                    Ok(Some(Msg::Summary(_)) | Some(Msg::UpToDate))
                )
            }
        }
    });
    assert!(refused, "a certificate without its key must not get in");

    // Nothing was stored, and honest agents keep syncing.
    assert_eq!(hub.records(), before);
    honest.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    assert_eq!(honest.sync()["sent"], 1);
    assert_eq!(other.sync()["sent"], 0);
}

#[test]
fn revoked_agent_is_refused_at_its_next_connection() {
    let hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let bystander = hub.enroll_agent("30208");
    agent.sync();
    let author = agent.json(&["status"])["author"]
        .as_str()
        .unwrap()
        .to_string();
    hub.ok(&["revoke", &author[..16]]);
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let out = agent.run(&["sync"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).to_lowercase().contains("revoked"),
        "{}",
        stderr(&out)
    );
    assert!(!hub
        .records()
        .iter()
        .any(|r| r["short_id"] == market.as_str()));
    let agents = hub.json(&["agents"]);
    let revoked = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["author"] == author.as_str())
        .unwrap();
    assert_eq!(revoked["revoked"], true);
    bystander.outlet("convenience", "Bách hóa Lai Vung", "30208", &[]);
    assert_eq!(bystander.sync()["sent"], 1);
}

#[test]
fn used_token_cannot_enroll_twice() {
    let hub = Hub::start();
    let first = hub.enroll_agent("30226");
    let second = Agent::new();
    let out = second.run(&["init", "--token", &first.token]);
    assert!(!out.status.success(), "a used token must be refused");
    assert!(
        stderr(&out).to_lowercase().contains("token"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_and_oversized_frames_close_the_connection_not_the_hub() {
    let mut hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let id = identity_of(&agent);
    let rt = rt();
    let garbage: Vec<Vec<u8>> = vec![
        u32::MAX.to_le_bytes().to_vec(), // oversized length prefix
        [5u32.to_le_bytes().to_vec(), vec![0xFF; 5]].concat(), // unknown variant
        [1u32.to_le_bytes().to_vec(), vec![5]].concat(), // Done before Hello
        {
            let mut f = wire::encode_frame(&Msg::Done);
            f[0] += 1;
            f.push(0); // trailing byte inside the frame
            f
        },
    ];
    for bytes in garbage {
        let closed = rt.block_on(async {
            let (_ep, conn, mut s) = open(&hub, &agent.token, &id).await;
            s.send_raw(&bytes).await.unwrap();
            let answer = s.recv().await;
            let _ = conn.closed().await;
            !matches!(answer, Ok(Some(Msg::Summary(_)) | Some(Msg::UpToDate)))
        });
        assert!(closed);
        assert!(hub.is_serving(), "the hub survived {bytes:?}");
    }
    agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    assert_eq!(agent.sync()["sent"], 1);
}

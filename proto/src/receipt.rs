//! Receipts: a hub's signed word that it holds an office's log up to a seq, so that whoever carries
//! the word (a drop file today, a relay later) cannot make an office believe its records reached the
//! hub when they did not.
//!
//! A [`Receipt`] names the hub, the office, the seq and the office's chain link at that seq (the
//! head, see [`crate::chain`]), and when it was signed; the hub signs
//! `"baobi/1 receipt" ‖ hub ‖ office ‖ seq ‖ head ‖ at_ms` with its author key. The office accepts
//! one only from the hub key it learnt at enrollment, for itself, and with a head equal to its own
//! link at that seq: a receipt for entries it never wrote, or for a log that forked, is refused.

use crate::chain::Link;
use crate::identity::{AuthorId, Keypair};
pub use crate::wire::Receipt;

/// Why a receipt is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Signed (or claimed) by a hub other than the office's.
    #[error("biên nhận của máy chủ khác ({0}) / a receipt from another hub ({0})")]
    OtherHub(String),
    /// For another office.
    #[error("biên nhận cho văn phòng khác ({0}) / a receipt for another office ({0})")]
    OtherOffice(String),
    /// The signature does not verify.
    #[error("chữ ký biên nhận không hợp lệ / the receipt's signature does not verify")]
    BadSignature,
    /// It covers entries the office never wrote.
    #[error(
        "biên nhận đến mục {seq} nhưng văn phòng chỉ có {own} mục / the receipt covers entry \
         {seq} but the office wrote {own}"
    )]
    BeyondLog {
        /// The receipt's seq.
        seq: u64,
        /// The office's own seq.
        own: u64,
    },
    /// The head does not match the office's own chain at that seq.
    #[error(
        "biên nhận không khớp chuỗi của văn phòng tại mục {0} / the receipt's head does not match \
         the office's chain at entry {0}"
    )]
    HeadMismatch(u64),
}

/// The bytes a receipt's signature covers.
pub fn receipt_bytes(
    hub: &AuthorId,
    office: &AuthorId,
    seq: u64,
    head: &Link,
    at_ms: u64,
) -> Vec<u8> {
    let mut v = b"baobi/1 receipt".to_vec();
    v.extend_from_slice(&hub.0);
    v.extend_from_slice(&office.0);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(head);
    v.extend_from_slice(&at_ms.to_le_bytes());
    v
}

impl Receipt {
    /// The hub `kp` states it holds `office`'s log up to `seq`, whose link there is `head`.
    pub fn sign(kp: &Keypair, office: AuthorId, seq: u64, head: Link, at_ms: u64) -> Receipt {
        let hub = kp.author();
        let sig = kp.sign(&receipt_bytes(&hub, &office, seq, &head, at_ms));
        Receipt {
            hub,
            office,
            seq,
            head,
            at_ms,
            sig,
        }
    }

    /// True when the signature verifies for the hub the receipt names.
    pub fn signature_holds(&self) -> bool {
        self.hub.verify(
            &receipt_bytes(&self.hub, &self.office, self.seq, &self.head, self.at_ms),
            &self.sig,
        )
    }

    /// Checks the receipt as `office`, enrolled with the hub whose key is `hub`, whose own log holds
    /// `own_seq` entries; `link_at(seq)` is the office's chain link at `seq` (genesis for 0).
    /// Returns the seq the hub holds.
    pub fn verify(
        &self,
        hub: &AuthorId,
        office: &AuthorId,
        own_seq: u64,
        link_at: impl FnOnce(u64) -> Option<Link>,
    ) -> Result<u64, ReceiptError> {
        if self.hub != *hub {
            return Err(ReceiptError::OtherHub(self.hub.short()));
        }
        if self.office != *office {
            return Err(ReceiptError::OtherOffice(self.office.short()));
        }
        if !self.signature_holds() {
            return Err(ReceiptError::BadSignature);
        }
        if self.seq > own_seq {
            return Err(ReceiptError::BeyondLog {
                seq: self.seq,
                own: own_seq,
            });
        }
        if link_at(self.seq) != Some(self.head) {
            return Err(ReceiptError::HeadMismatch(self.seq));
        }
        Ok(self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{genesis, link_of};
    use crate::wire::{Body, CampaignEvent, CampaignKind, Date, Hlc, Op};
    use proptest::prelude::*;

    fn chain(kp: &Keypair, n: u64) -> Vec<Link> {
        let mut l = genesis(&kp.author());
        let mut out = vec![l];
        for s in 1..=n {
            let e = kp.sign_entry(
                s,
                Hlc(s),
                Op::Record(Body::Campaign(CampaignEvent {
                    unit: "30226".into(),
                    date: Date(20250301),
                    kind: CampaignKind::Event,
                    participants: Some(s as u32),
                    topic: "Tuần lễ túi xanh".into(),
                })),
            );
            l = link_of(&l, &e);
            out.push(l);
        }
        out
    }

    #[test]
    fn a_receipt_for_the_office_from_its_hub_verifies_and_any_other_is_refused() {
        let (hub, office) = (Keypair::generate(), Keypair::generate());
        let links = chain(&office, 5);
        let at = |s: u64| links.get(s as usize).copied();
        let r = Receipt::sign(&hub, office.author(), 3, links[3], 1_700_000_000_000);
        assert_eq!(r.verify(&hub.author(), &office.author(), 5, at), Ok(3));

        let other_hub = Keypair::generate();
        let forged = Receipt::sign(&other_hub, office.author(), 3, links[3], 1);
        assert!(matches!(
            forged.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::OtherHub(_))
        ));
        // Another key claiming to be the hub: the signature fails.
        let mut claimed = forged.clone();
        claimed.hub = hub.author();
        assert_eq!(
            claimed.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::BadSignature)
        );
        let elsewhere = Receipt::sign(&hub, Keypair::generate().author(), 3, links[3], 1);
        assert!(matches!(
            elsewhere.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::OtherOffice(_))
        ));
        let beyond = Receipt::sign(&hub, office.author(), 6, links[5], 1);
        assert_eq!(
            beyond.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::BeyondLog { seq: 6, own: 5 })
        );
        let wrong_head = Receipt::sign(&hub, office.author(), 3, links[2], 1);
        assert_eq!(
            wrong_head.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::HeadMismatch(3))
        );
        // A receipt altered after signing (a relay moving the mark) fails.
        let mut moved = r.clone();
        moved.seq = 4;
        moved.head = links[4];
        assert_eq!(
            moved.verify(&hub.author(), &office.author(), 5, at),
            Err(ReceiptError::BadSignature)
        );
    }

    proptest! {
        #[test]
        fn receipts_round_trip_and_no_field_can_change(
            seq in 0u64..1_000, at_ms in any::<u64>(), head in any::<[u8; 32]>(), which in 0usize..4
        ) {
            let (hub, office) = (Keypair::generate(), Keypair::generate());
            let r = Receipt::sign(&hub, office.author(), seq, head, at_ms);
            let back: Receipt = crate::wire::decode(&crate::wire::encode(&r)).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(
                back.verify(&hub.author(), &office.author(), seq, |_| Some(head)),
                Ok(seq)
            );
            let mut t = r;
            match which {
                0 => t.seq = t.seq.wrapping_add(1),
                1 => t.at_ms = t.at_ms.wrapping_add(1),
                2 => t.head[0] ^= 1,
                _ => t.sig.0[7] ^= 0x40,
            }
            prop_assert!(!t.signature_holds());
        }
    }
}

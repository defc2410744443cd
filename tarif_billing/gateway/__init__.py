"""Card payments through a payment gateway: the interface the back office charges through
(`protocol`), the HTTP JSON client of a configured gateway (`http`), and the attempts the
payment collection makes, recorded so that no card is charged twice (`attempts`).
docs/payment-collection.md describes the wire protocol and the rules."""

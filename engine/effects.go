package engine

import "strconv"

// What actions that reach other systems (webhook, template) need from a
// Call besides Enqueue: whether this is an offline run, the deliverer whose
// client makes a first attempt inline, and a key the other system can
// deduplicate on.

// DryRun reports whether the push runs offline (rule tests, explain): the
// action must not reach any other system. Enqueue already records instead
// of sending; an action making its own calls checks this first.
func (c *Call) DryRun() bool { return c.run.dryRun }

// Deliverer returns the outbox's deliverer of kind, so an action can make a
// first attempt inline with the client the outbox retries with. It is nil
// in a dry run, without an outbox, or when no deliverer is registered for
// kind.
func (c *Call) Deliverer(kind string) Deliverer {
	if c.run.dryRun || c.run.outbox == nil {
		return nil
	}
	return c.run.outbox.Deliverer(kind)
}

// Key identifies this step of this push: the same across WeChat's retries
// of a push, WeChat Pay's redeliveries of a payment and restarts. It is the
// prefix of the IDs of the step's sends.
func (c *Call) Key() string {
	return c.Event.ID + "/" + c.Rule.Name + "/" + strconv.Itoa(c.step)
}

// Deliverer returns the deliverer registered for kind, or nil.
func (ob *Outbox) Deliverer(kind string) Deliverer { return ob.deliverers[kind] }

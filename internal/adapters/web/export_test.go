package web

// Subscribers returns how many browsers are connected to the stream.
func (c *Chat) Subscribers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs)
}

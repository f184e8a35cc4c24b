package prune

// Validate reports the first setting of c that MakePlan would refuse
// (a missing or out-of-range target, an unknown ranking, a negative
// count), without a model: a program can check its settings before it
// calibrates.
func (c PlanConfig) Validate() error {
	_, err := c.normalise()
	return err
}

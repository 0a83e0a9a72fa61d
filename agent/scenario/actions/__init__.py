"""The actions of the timeline steps, registered with `agent.scenario.steps.action`; every
module of this package is imported when the step table loads (`steps.load()`)."""

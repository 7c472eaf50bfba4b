"""Policy as code: the decisions tre asks, their inputs, and the engines that answer them."""

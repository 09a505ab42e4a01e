"""Developer tools run from a checkout (docs generators); mlctl never imports them."""

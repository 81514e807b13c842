"""Content studio (seed 004, ChefSocial Voice): brand, generated posts, calendar, performance."""

"""考核: a score per cadre per period from diary, quota, concerns, satisfaction and integrity."""

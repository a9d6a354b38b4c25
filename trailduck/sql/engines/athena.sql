CREATE DATABASE IF NOT EXISTS {database};
{tables}

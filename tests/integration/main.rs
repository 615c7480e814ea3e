mod aws;
mod moto;
